package components_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
)

func boolp(b bool) *bool { return &b }

// TestBackupRefusals: each bad backup or restore value is one error naming
// the key, the value and what is allowed, before anything is registered.
func TestBackupRefusals(t *testing.T) {
	do := func(a components.ClusterArgs) components.ClusterArgs {
		a.Cloud, a.Region, a.DNSZone = "digitalocean", "nyc3", "etcd.example.com"
		return a
	}
	for _, tc := range []struct {
		name string
		args components.ClusterArgs
		want []string
	}{
		{"schedule", components.ClusterArgs{BackupSchedule: "every hour"}, []string{`backupSchedule: "every hour" is not allowed`, "OnCalendar"}},
		{"schedule minutely", components.ClusterArgs{BackupSchedule: "minutely"}, []string{`backupSchedule: "minutely"`}},
		{"retention", components.ClusterArgs{BackupRetentionDays: -1}, []string{"backupRetentionDays: -1 is not allowed; want 1 to 3650"}},
		{"retention with own bucket", components.ClusterArgs{BackupBucket: "ops-backups", BackupRetentionDays: 7}, []string{"backupRetentionDays: 7 applies to the bucket the program creates", `"ops-backups"`}},
		{"bucket name on AWS", components.ClusterArgs{BackupBucket: "Ops_Backups"}, []string{`backupBucket: "Ops_Backups" is not an S3 bucket name`}},
		{"bucket name on DigitalOcean", do(components.ClusterArgs{BackupBucket: "ops.backups"}), []string{`backupBucket: "ops.backups" is not a Spaces bucket name`}},
		{"region without Spaces", components.ClusterArgs{Cloud: "digitalocean", Region: "nyc1", DNSZone: "etcd.example.com"}, []string{`backup: region "nyc1" has no DigitalOcean Spaces`, "backup: false"}},
		{"etcd2", components.ClusterArgs{Flavor: "coreos-etcd2", Image: pulumi.String("ami-0123456789abcdef0"), DiscoveryURL: discoveryURL, SkipDiscoveryCheck: true, PlaintextAcknowledged: true, Backup: boolp(true)}, []string{"backup: true is not available with flavor coreos-etcd2"}},
		{"restore without backups", components.ClusterArgs{Backup: boolp(false), RestoreFrom: "latest"}, []string{`restoreFrom: "latest" restores from the backup bucket, and backups are off`}},
		{"restore with discovery", components.ClusterArgs{Bootstrap: "discovery", EtcdVersion: "3.5", DiscoveryURL: discoveryURL, SkipDiscoveryCheck: true, PlaintextAcknowledged: true, RestoreFrom: "latest"}, []string{`restoreFrom: "latest" needs bootstrap static`}},
		{"restore not a snapshot", components.ClusterArgs{RestoreFrom: "etcd-dev/etcd-dev-central-0/snap.tar"}, []string{`restoreFrom: "etcd-dev/etcd-dev-central-0/snap.tar" is not a snapshot`, "latest"}},
	} {
		tc.args.CentralCount = 3
		t.Run(tc.name, func(t *testing.T) { refused(t, tc.args, tc.want...) })
	}
}

// TestBackupStorage: on each cloud the program creates a private,
// versioned bucket whose snapshots expire, and gives central nodes, and
// only them, the right to upload under the cluster's prefix; on AWS that
// right never includes deleting.
func TestBackupStorage(t *testing.T) {
	t.Run("aws", func(t *testing.T) {
		m, out := mustProvision(t, components.ClusterArgs{CentralCount: 3, WorkerCount: 2})
		for _, typ := range []string{"aws:s3/bucketV2:BucketV2", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "aws:s3/bucketVersioningV2:BucketVersioningV2",
			"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
			"aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy", "aws:iam/instanceProfile:InstanceProfile"} {
			if n := len(m.OfType(typ)); n != 1 {
				t.Errorf("%d of %s, want 1", n, typ)
			}
		}
		lifecycle := m.OfType("aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2")[0].Inputs["rules"].ArrayValue()[0].ObjectValue()
		if got := pulumitest.Plain(lifecycle["expiration"]).ObjectValue()["days"].NumberValue(); got != components.DefaultBackupRetentionDays {
			t.Errorf("snapshots expire after %v days, want %d", got, components.DefaultBackupRetentionDays)
		}
		var policy struct {
			Statement []struct {
				Effect   string
				Action   any
				Resource any
			}
		}
		if err := json.Unmarshal([]byte(str(m.OfType("aws:iam/rolePolicy:RolePolicy")[0].Inputs, "policy")), &policy); err != nil {
			t.Fatal(err)
		}
		allowed, denied := "", ""
		for _, s := range policy.Statement {
			b, _ := json.Marshal(s)
			if s.Effect == "Allow" {
				allowed += string(b)
			} else {
				denied += string(b)
			}
		}
		if strings.Contains(allowed, "Delete") || !strings.Contains(allowed, `"arn:aws:s3:::etcd-dev-backups/etcd-dev/*"`) || !strings.Contains(denied, "s3:DeleteObjectVersion") {
			t.Errorf("central role may %s and is denied %s; want put and get under etcd-dev/ only, and every delete denied", allowed, denied)
		}
		profile := str(m.OfType("aws:iam/instanceProfile:InstanceProfile")[0].Outputs, "name")
		for _, c := range centrals(m, "aws") {
			if str(c.Inputs, "iamInstanceProfile") != profile {
				t.Errorf("%s has instance profile %q, want %q", c.Name, str(c.Inputs, "iamInstanceProfile"), profile)
			}
		}
		if lt := m.OfType("aws:ec2/launchTemplate:LaunchTemplate")[0]; lt.Inputs.HasValue("iamInstanceProfile") {
			t.Error("workers carry an instance profile; only central nodes upload")
		}
		if out.values["backupBucket"] != "etcd-dev-backups" || out.values["backupPrefix"] != "etcd-dev" ||
			out.values["backupListCommand"] != "aws s3 ls s3://etcd-dev-backups/etcd-dev/ --recursive --region us-east-2 | sort" {
			t.Errorf("outputs bucket %v, prefix %v, list %v", out.values["backupBucket"], out.values["backupPrefix"], out.values["backupListCommand"])
		}
		for _, c := range centrals(m, "aws") {
			ud := userData(t, c)
			if !strings.Contains(ud, "RCLONE_CONFIG_BACKUP_ENV_AUTH=true") || !strings.Contains(ud, "backup:etcd-dev-backups/etcd-dev/"+c.Name+"/") {
				t.Errorf("%s does not upload under its own name with the instance role:\n%s", c.Name, ud)
			}
		}
	})
	t.Run("digitalocean", func(t *testing.T) {
		// TLS off, so that only the Spaces key makes central user data secret.
		m, out := mustProvision(t, components.ClusterArgs{CentralCount: 3, Cloud: "digitalocean", Region: "nyc3", WorkerCount: 1,
			DiscoveryURL: discoveryURL, SkipDiscoveryCheck: true, PlaintextAcknowledged: true})
		bucket := m.OfType("digitalocean:index/spacesBucket:SpacesBucket")
		key := m.OfType("digitalocean:index/spacesKey:SpacesKey")
		if len(bucket) != 1 || len(key) != 1 {
			t.Fatalf("%d buckets, %d keys, want 1 each", len(bucket), len(key))
		}
		if !pulumitest.Plain(bucket[0].Inputs["versioning"]).ObjectValue()["enabled"].BoolValue() || str(bucket[0].Inputs, "acl") != "private" {
			t.Errorf("bucket %v: want private and versioned", bucket[0].Inputs)
		}
		grant := pulumitest.Plain(key[0].Inputs["grants"]).ArrayValue()
		if len(grant) != 1 || grant[0].ObjectValue()["bucket"].StringValue() != "etcd-dev-backups" || grant[0].ObjectValue()["permission"].StringValue() != "readwrite" {
			t.Errorf("key grants %v, want readwrite on etcd-dev-backups only", grant)
		}
		if !out.secrets["centralCloudConfig"] {
			t.Error("central user data carries the Spaces key and is not secret")
		}
		if !strings.Contains(out.values["workerCloudConfig"].(string), "#cloud-config") || strings.Contains(out.values["workerCloudConfig"].(string), "RCLONE") {
			t.Error("workers carry the backup settings; only central nodes upload")
		}
		if out.values["backupListCommand"] != "aws s3 ls s3://etcd-dev-backups/etcd-dev/ --recursive --region nyc3 --endpoint-url https://nyc3.digitaloceanspaces.com | sort" {
			t.Errorf("list command %v", out.values["backupListCommand"])
		}
	})
	t.Run("own bucket", func(t *testing.T) {
		m, out := mustProvision(t, components.ClusterArgs{CentralCount: 3, BackupBucket: "ops-backups"})
		if n := len(m.OfType("aws:s3/bucketV2:BucketV2")); n != 0 {
			t.Errorf("%d buckets created beside the operator's", n)
		}
		if out.values["backupBucket"] != "ops-backups" || len(m.OfType("aws:iam/rolePolicy:RolePolicy")) != 1 {
			t.Errorf("bucket %v; want the operator's, with the central role's policy on it", out.values["backupBucket"])
		}
	})
	t.Run("off", func(t *testing.T) {
		m, out := mustProvision(t, components.ClusterArgs{CentralCount: 3, Backup: boolp(false)})
		if n := len(m.OfType("aws:iam/role:Role")) + len(m.OfType("aws:s3/bucketV2:BucketV2")); n != 0 || out.values["backupBucket"] != "" {
			t.Errorf("backup off: %d backup resources, bucket %v", n, out.values["backupBucket"])
		}
		for _, c := range centrals(m, "aws") {
			if strings.Contains(userData(t, c), "etcd-backup") {
				t.Errorf("backup off, and %s backs up", c.Name)
			}
		}
	})
}

// TestRestoreFrom: restoreFrom picks one snapshot for every member from
// what the bucket holds, latest being the newest any member uploaded; one
// that is not there fails the deploy before any machine is registered.
func TestRestoreFrom(t *testing.T) {
	objects := map[string][]string{"etcd-dev-backups": {
		"etcd-dev/etcd-dev-central-0/etcd-20261130T100000Z.db",
		"etcd-dev/etcd-dev-central-1/etcd-20261130T110000Z.db",
		"etcd-dev/etcd-dev-central-2/etcd-20261130T105959Z.db",
		"etcd-other/etcd-other-central-0/etcd-20261130T230000Z.db",
	}}
	for _, tc := range []struct {
		name, restore, want, err string
	}{
		{"latest", "latest", "etcd-dev/etcd-dev-central-1/etcd-20261130T110000Z.db", ""},
		{"named", "etcd-dev/etcd-dev-central-0/etcd-20261130T100000Z.db", "etcd-dev/etcd-dev-central-0/etcd-20261130T100000Z.db", ""},
		{"another cluster's", "etcd-other/etcd-other-central-0/etcd-20261130T230000Z.db", "etcd-other/etcd-other-central-0/etcd-20261130T230000Z.db", ""},
		{"missing", "etcd-dev/etcd-dev-central-0/etcd-20261130T090000Z.db", "", `restoreFrom: "etcd-dev/etcd-dev-central-0/etcd-20261130T090000Z.db" is not in bucket etcd-dev-backups`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := pulumitest.New()
			m.Objects = objects
			m, _, err := provisionOn(t, m, components.ClusterArgs{CentralCount: 3, RestoreFrom: tc.restore})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if n := len(centrals(m, "aws")); n != 0 {
					t.Errorf("%d central machines registered with a snapshot that is not there", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range centrals(m, "aws") {
				if ud := userData(t, c); !strings.Contains(ud, `copyto "backup:etcd-dev-backups/`+tc.want+`"`) {
					t.Errorf("%s does not restore %s:\n%s", c.Name, tc.want, ud)
				}
			}
		})
	}
	t.Run("latest of an empty bucket", func(t *testing.T) {
		_, _, err := provision(t, components.ClusterArgs{CentralCount: 3, RestoreFrom: "latest"})
		if err == nil || !strings.Contains(err.Error(), `restoreFrom: "latest", but bucket etcd-dev-backups holds no snapshot below etcd-dev/`) {
			t.Fatalf("err = %v", err)
		}
	})
}
