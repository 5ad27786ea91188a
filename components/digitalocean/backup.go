package digitalocean

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-digitalocean/sdk/v4/go/digitalocean"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/isolatedetcd/cluster/components/cloud"
)

// spacesRegions are the regions that offer Spaces (2026-11); the bucket
// lives in the cluster's region, close to the nodes that upload to it.
var spacesRegions = []string{"ams3", "atl1", "blr1", "fra1", "lon1", "nyc3", "sfo2", "sfo3", "sgp1", "syd1", "tor1"}

// spacesBucketName is Spaces' rule for bucket names.
var spacesBucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

// CheckBackup rejects a region without Spaces, a bucket name Spaces would
// refuse, and creating a bucket without the Spaces keys the provider needs.
func (provider) CheckBackup(ctx *pulumi.Context, b cloud.Backup) error {
	var errs []string
	if !slices.Contains(spacesRegions, b.Region) {
		errs = append(errs, fmt.Sprintf("backup: region %q has no DigitalOcean Spaces, where the backups go; want a cluster in %s, or backup: false", b.Region, strings.Join(spacesRegions, ", ")))
	}
	switch {
	case b.CopyRegion == "":
	case !slices.Contains(spacesRegions, b.CopyRegion):
		errs = append(errs, fmt.Sprintf("backupCopyRegion: %q has no DigitalOcean Spaces; want another Spaces region than the cluster's (%s): %s, or unset for no second copy", b.CopyRegion, b.Region, strings.Join(spacesRegions, ", ")))
	case b.CopyRegion == b.Region:
		errs = append(errs, fmt.Sprintf("backupCopyRegion: %q is the cluster's own region, where the first bucket is, and would not survive its loss; want another Spaces region (%s), or unset for no second copy", b.CopyRegion, strings.Join(spacesRegions, ", ")))
	}
	if b.Bucket != "" && !spacesBucketName.MatchString(b.Bucket) {
		errs = append(errs, fmt.Sprintf("backupBucket: %q is not a Spaces bucket name; want 3 to 63 lowercase letters, digits and dashes, starting and ending with a letter or digit, or unset to create one", b.Bucket))
	}
	if b.Bucket == "" && (config.Get(ctx, "digitalocean:spacesAccessId") == "" && os.Getenv("SPACES_ACCESS_KEY_ID") == "" ||
		config.Get(ctx, "digitalocean:spacesSecretKey") == "" && os.Getenv("SPACES_SECRET_ACCESS_KEY") == "") {
		errs = append(errs, "backup: creating the backup bucket takes a Spaces access key, which the DigitalOcean provider has none of; set digitalocean:spacesAccessId and digitalocean:spacesSecretKey (--secret), or SPACES_ACCESS_KEY_ID and SPACES_SECRET_ACCESS_KEY, or name an existing bucket in backupBucket, or set backup: false")
	}
	if errs != nil {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// newBackup registers the bucket, unless the operator names one, and a
// Spaces key limited to it; with a copy region, a second bucket there,
// which the key may write too (another region is another endpoint). A deliberate teardown leaves the bucket and the
// backups in it (docs/operations.md). Spaces has no put-only grant: versioning
// keeps what a node overwrites or deletes for the retention, but a stolen key
// may be able to delete versions too (docs/security.md, a stolen member key).
func newBackup(ctx *pulumi.Context, spec cloud.Spec, opts []pulumi.ResourceOption) (*cloud.Store, error) {
	b := spec.Backup
	bucket := pulumi.String(b.Bucket).ToStringOutput()
	if b.Bucket == "" {
		created, err := newBucket(ctx, spec, spec.Name+"-backups", b.Region, opts)
		if err != nil {
			return nil, err
		}
		bucket = created
	}
	grants := digitalocean.SpacesKeyGrantArray{digitalocean.SpacesKeyGrantArgs{Bucket: bucket, Permission: pulumi.String("readwrite")}}
	var copyBucket pulumi.StringOutput
	if b.CopyRegion != "" {
		var err error
		if copyBucket, err = newBucket(ctx, spec, spec.Name+"-backups-copy", b.CopyRegion, opts); err != nil {
			return nil, err
		}
		grants = append(grants, digitalocean.SpacesKeyGrantArgs{Bucket: copyBucket, Permission: pulumi.String("readwrite")})
	}
	key, err := digitalocean.NewSpacesKey(ctx, spec.Name+"-backup", &digitalocean.SpacesKeyArgs{
		Name:   pulumi.String(spec.Name + "-backup"),
		Grants: grants,
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("backup key: %w", err)
	}
	st := store(ctx, bucket, b.Region, key)
	if b.CopyRegion != "" {
		st.Copy = store(ctx, copyBucket, b.CopyRegion, key)
	}
	return st, nil
}

// newBucket registers a private, versioned bucket in region whose
// snapshots expire after the retention, kept when the stack is destroyed.
func newBucket(ctx *pulumi.Context, spec cloud.Spec, name, region string, opts []pulumi.ResourceOption) (pulumi.StringOutput, error) {
	b := spec.Backup
	created, err := digitalocean.NewSpacesBucket(ctx, name, &digitalocean.SpacesBucketArgs{
		Region:     pulumi.String(region),
		Acl:        pulumi.String("private"),
		Versioning: digitalocean.SpacesBucketVersioningArgs{Enabled: pulumi.Bool(true)},
		LifecycleRules: digitalocean.SpacesBucketLifecycleRuleArray{digitalocean.SpacesBucketLifecycleRuleArgs{
			Id:                                 pulumi.String("expire-snapshots"),
			Enabled:                            pulumi.Bool(true),
			Prefix:                             pulumi.String(b.Prefix + "/"),
			Expiration:                         digitalocean.SpacesBucketLifecycleRuleExpirationArgs{Days: pulumi.Int(b.RetentionDays)},
			NoncurrentVersionExpiration:        digitalocean.SpacesBucketLifecycleRuleNoncurrentVersionExpirationArgs{Days: pulumi.Int(b.RetentionDays)},
			AbortIncompleteMultipartUploadDays: pulumi.Int(1),
		}},
	}, with(opts, pulumi.RetainOnDelete(true))...)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("backup bucket %s: %w", name, err)
	}
	return created.Name, nil
}

// store is how central nodes reach bucket, in region, with key.
func store(ctx *pulumi.Context, bucket pulumi.StringOutput, region string, key *digitalocean.SpacesKey) *cloud.Store {
	return &cloud.Store{
		Bucket:          bucket,
		Provider:        "DigitalOcean",
		Region:          region,
		Endpoint:        "https://" + region + ".digitaloceanspaces.com",
		AccessKeyID:     key.AccessKey,
		SecretAccessKey: pulumi.ToSecret(key.SecretKey).(pulumi.StringOutput),
		Keys: func(prefix string) pulumi.StringArrayOutput {
			return digitalocean.GetSpacesBucketObjectsOutput(ctx, digitalocean.GetSpacesBucketObjectsOutputArgs{
				Bucket:  bucket,
				Region:  pulumi.String(region),
				Prefix:  pulumi.String(prefix),
				MaxKeys: pulumi.Int(1 << 20),
			}).Keys()
		},
	}
}
