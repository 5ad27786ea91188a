package aws

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components/cloud"
)

// bucketPattern is S3's rule for bucket names, short of the IP-address form.
var bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// CheckBackup rejects an existing bucket's name S3 would refuse.
func (provider) CheckBackup(_ *pulumi.Context, b cloud.Backup) error {
	if b.Bucket != "" && !bucketPattern.MatchString(b.Bucket) {
		return fmt.Errorf("backupBucket: %q is not an S3 bucket name; want 3 to 63 lowercase letters, digits, dots and dashes, starting and ending with a letter or digit, or unset to create one", b.Bucket)
	}
	return nil
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
func newBackup(ctx *pulumi.Context, spec cloud.Spec, invoke []pulumi.InvokeOption, opts []pulumi.ResourceOption) (*backup, error) {
	b := spec.Backup
	bucket := pulumi.String(b.Bucket).ToStringOutput()
	if b.Bucket == "" {
		created, err := newBucket(ctx, spec, opts)
		if err != nil {
			return nil, err
		}
		bucket = created
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
		Policy: bucket.ApplyT(func(name string) (string, error) { return backupPolicy(name, b.Prefix) }).(pulumi.StringOutput),
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
	return &backup{
		profile: profile,
		store: &cloud.Store{
			Bucket:   bucket,
			Provider: "AWS",
			Region:   b.Region,
			// The instance profile grants access: no key.
			AccessKeyID:     pulumi.String("").ToStringOutput(),
			SecretAccessKey: pulumi.String("").ToStringOutput(),
			Keys: func(prefix string) pulumi.StringArrayOutput {
				return s3.GetObjectsOutput(ctx, s3.GetObjectsOutputArgs{
					Bucket:  bucket,
					Prefix:  pulumi.String(prefix),
					MaxKeys: pulumi.Int(1 << 20),
				}, invoke...).Keys()
			},
		},
	}, nil
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
func newBucket(ctx *pulumi.Context, spec cloud.Spec, opts []pulumi.ResourceOption) (pulumi.StringOutput, error) {
	b := spec.Backup
	name := spec.Name + "-backups"
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

// backupPolicy lets central nodes put and get objects below prefix, list
// only that prefix, and denies every delete and any change of what keeps
// the history (versioning, lifecycle, object lock), whatever else grants it.
func backupPolicy(bucket, prefix string) (string, error) {
	objects := fmt.Sprintf("arn:aws:s3:::%s/%s/*", bucket, prefix)
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{"Sid": "WriteSnapshots", "Effect": "Allow", "Action": []string{"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}, "Resource": objects},
			{"Sid": "ListSnapshots", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::" + bucket,
				"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": []string{prefix + "/*"}}}},
			{"Sid": "NeverDelete", "Effect": "Deny", "Action": []string{"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration", "s3:PutBucketVersioning",
				"s3:BypassGovernanceRetention", "s3:PutObjectRetention", "s3:PutObjectLegalHold", "s3:PutBucketObjectLockConfiguration"},
				"Resource": []string{"arn:aws:s3:::" + bucket, "arn:aws:s3:::" + bucket + "/*"}},
		},
	}
	out, err := json.Marshal(doc)
	return string(out), err
}
