package aws

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components/cloud"
)

// bucketPattern is S3's rule for bucket names, short of the IP-address form.
var bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// CheckBackup rejects an existing bucket's name S3 would refuse, and a
// copy region that is not another AWS region.
func (provider) CheckBackup(_ *pulumi.Context, b cloud.Backup) error {
	var errs []error
	if b.Bucket != "" && !bucketPattern.MatchString(b.Bucket) {
		errs = append(errs, fmt.Errorf("backupBucket: %q is not an S3 bucket name; want 3 to 63 lowercase letters, digits, dots and dashes, starting and ending with a letter or digit, or unset to create one", b.Bucket))
	}
	switch {
	case b.CopyRegion == "":
	case !regionPattern.MatchString(b.CopyRegion):
		errs = append(errs, fmt.Errorf("backupCopyRegion: %q is not an AWS region; want another region than the cluster's (%s), such as us-west-2, or unset for no second copy", b.CopyRegion, b.Region))
	case b.CopyRegion == b.Region:
		errs = append(errs, fmt.Errorf("backupCopyRegion: %q is the cluster's own region, where the first bucket is, and would not survive its loss; want another AWS region, or unset for no second copy", b.CopyRegion))
	}
	return errors.Join(errs...)
}

// backup is the bucket central nodes upload to, and the instance profile
// that lets them.
type backup struct {
	store   *cloud.Store
	profile *iam.InstanceProfile
}

// newBackup registers the bucket, unless the operator names one, and a role
// for central instances that may read and write below the cluster's prefix
// and may delete nothing, so a compromised member cannot erase the history.
// With a copy region, a second bucket like the first is registered there,
// through a provider of its own, and the role covers both.
func newBackup(ctx *pulumi.Context, spec cloud.Spec, invoke []pulumi.InvokeOption, opts []pulumi.ResourceOption) (*backup, error) {
	b := spec.Backup
	bucket := pulumi.String(b.Bucket).ToStringOutput()
	if b.Bucket == "" {
		created, err := newBucket(ctx, spec, spec.Name+"-backups", opts)
		if err != nil {
			return nil, err
		}
		bucket = created
	}
	buckets := pulumi.StringArray{bucket}
	var cp *cloud.Store
	if b.CopyRegion != "" {
		p, err := aws.NewProvider(ctx, spec.Name+"-aws-backup-copy", &aws.ProviderArgs{Region: pulumi.String(b.CopyRegion)}, opts...)
		if err != nil {
			return nil, fmt.Errorf("aws provider for backup copy region %s: %w", b.CopyRegion, err)
		}
		copyBucket, err := newBucket(ctx, spec, spec.Name+"-backups-copy", slices.Concat(opts, []pulumi.ResourceOption{pulumi.Provider(p)}))
		if err != nil {
			return nil, err
		}
		buckets = append(buckets, copyBucket)
		cp = store(ctx, copyBucket, b.CopyRegion, []pulumi.InvokeOption{pulumi.Provider(p)})
	}
	role, err := iam.NewRole(ctx, spec.Name+"-central", &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`),
		Tags:             tags(spec, spec.Name+"-central", roleCentral),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("central role: %w", err)
	}
	if _, err := iam.NewRolePolicy(ctx, spec.Name+"-central-backup", &iam.RolePolicyArgs{
		Role:   role.Name,
		Policy: buckets.ToStringArrayOutput().ApplyT(func(names []string) (string, error) { return backupPolicy(b.Prefix, names...) }).(pulumi.StringOutput),
	}, opts...); err != nil {
		return nil, fmt.Errorf("central role policy: %w", err)
	}
	profile, err := iam.NewInstanceProfile(ctx, spec.Name+"-central", &iam.InstanceProfileArgs{
		Role: role.Name,
		Tags: tags(spec, spec.Name+"-central", roleCentral),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("central instance profile: %w", err)
	}
	st := store(ctx, bucket, b.Region, invoke)
	st.Copy = cp
	return &backup{profile: profile, store: st}, nil
}

// store is how central nodes reach bucket, in region: through their
// instance profile, with no key.
func store(ctx *pulumi.Context, bucket pulumi.StringOutput, region string, invoke []pulumi.InvokeOption) *cloud.Store {
	return &cloud.Store{
		Bucket:          bucket,
		Provider:        "AWS",
		Region:          region,
		AccessKeyID:     pulumi.String("").ToStringOutput(),
		SecretAccessKey: pulumi.String("").ToStringOutput(),
		Keys: func(prefix string) pulumi.StringArrayOutput {
			return s3.GetObjectsOutput(ctx, s3.GetObjectsOutputArgs{
				Bucket:  bucket,
				Prefix:  pulumi.String(prefix),
				MaxKeys: pulumi.Int(1 << 20),
			}, invoke...).Keys()
		},
	}
}

// retained keeps the bucket, and the settings that keep it private and
// expiring, when the cluster is deliberately destroyed: the backups are
// what outlives a cluster (docs/operations.md, teardown).
var retained = pulumi.RetainOnDelete(true)

// newBucket registers a private, versioned, encrypted bucket whose
// snapshots expire after the retention, and whose noncurrent versions (a
// snapshot expired, or overwritten by a node) live as long again: a member
// may overwrite but not delete, so none of its history is lost for that
// long; object lock holds every version for the retention whoever asks.
// It returns the bucket's name.
func newBucket(ctx *pulumi.Context, spec cloud.Spec, name string, opts []pulumi.ResourceOption) (pulumi.StringOutput, error) {
	b := spec.Backup
	bucket, err := s3.NewBucketV2(ctx, name, &s3.BucketV2Args{
		Tags: tags(spec, name, ""),
	}, slices.Concat(opts, []pulumi.ResourceOption{retained})...)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("backup bucket: %w", err)
	}
	child := slices.Concat(opts, []pulumi.ResourceOption{retained, pulumi.DependsOn([]pulumi.Resource{bucket})})
	if _, err := s3.NewBucketPublicAccessBlock(ctx, name, &s3.BucketPublicAccessBlockArgs{
		Bucket:                bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, child...); err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("backup bucket public access block: %w", err)
	}
	versioning, err := s3.NewBucketVersioningV2(ctx, name, &s3.BucketVersioningV2Args{
		Bucket:                  bucket.ID(),
		VersioningConfiguration: s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, child...)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("backup bucket versioning: %w", err)
	}
	// Every new version locked for the retention, in governance mode: no
	// node and no deploy role may shorten or bypass it (both lack
	// s3:BypassGovernanceRetention; the nodes are denied it outright),
	// while an account administrator can still correct a mistake, which
	// compliance mode forbids everyone (docs/backups.md, Object Lock).
	if _, err := s3.NewBucketObjectLockConfigurationV2(ctx, name, &s3.BucketObjectLockConfigurationV2Args{
		Bucket:            bucket.ID(),
		ObjectLockEnabled: pulumi.String("Enabled"),
		Rule: s3.BucketObjectLockConfigurationV2RuleArgs{DefaultRetention: s3.BucketObjectLockConfigurationV2RuleDefaultRetentionArgs{
			Mode: pulumi.String("GOVERNANCE"),
			Days: pulumi.Int(b.RetentionDays),
		}},
	}, slices.Concat(child, []pulumi.ResourceOption{pulumi.DependsOn([]pulumi.Resource{versioning})})...); err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("backup bucket object lock: %w", err)
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name, &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("AES256"),
			},
		}},
	}, child...); err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("backup bucket encryption: %w", err)
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name, &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:                             pulumi.String("expire-snapshots"),
			Status:                         pulumi.String("Enabled"),
			Filter:                         s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String(b.Prefix + "/")},
			Expiration:                     s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(b.RetentionDays)},
			NoncurrentVersionExpiration:    s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{NoncurrentDays: pulumi.Int(b.RetentionDays)},
			AbortIncompleteMultipartUpload: s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{DaysAfterInitiation: pulumi.Int(1)},
		}},
	}, child...); err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("backup bucket lifecycle: %w", err)
	}
	return bucket.Bucket, nil
}

// backupPolicy lets central nodes put and get objects below prefix in each
// bucket, list only that prefix, and denies every delete and any change of
// what keeps the history (versioning, lifecycle, object lock), whatever
// else grants it. With one bucket, each statement names it alone.
func backupPolicy(prefix string, buckets ...string) (string, error) {
	var objects, arns, all []string
	for _, b := range buckets {
		objects = append(objects, fmt.Sprintf("arn:aws:s3:::%s/%s/*", b, prefix))
		arns = append(arns, "arn:aws:s3:::"+b)
		all = append(all, "arn:aws:s3:::"+b, "arn:aws:s3:::"+b+"/*")
	}
	one := func(s []string) any {
		if len(s) == 1 {
			return s[0]
		}
		return s
	}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{"Sid": "WriteSnapshots", "Effect": "Allow", "Action": []string{"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}, "Resource": one(objects)},
			{"Sid": "ListSnapshots", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": one(arns),
				"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": []string{prefix + "/*"}}}},
			{"Sid": "NeverDelete", "Effect": "Deny", "Action": []string{"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration", "s3:PutBucketVersioning",
				"s3:BypassGovernanceRetention", "s3:PutObjectRetention", "s3:PutObjectLegalHold", "s3:PutBucketObjectLockConfiguration"},
				"Resource": all},
		},
	}
	out, err := json.Marshal(doc)
	return string(out), err
}
