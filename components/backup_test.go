package components_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
	"github.com/coreos/coreos-cloudinit/config"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/nodescript"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
	"github.com/isolatedetcd/cluster/internal/s3lab"
)

func boolp(b bool) *bool { return &b }

// TestBackupRefusals: each bad backup or restore value, the second copy's
// included, is one error naming the key, the value and what is allowed,
// before anything is registered.
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
		// Central nodes may read only below their own prefix: a restore of
		// another cluster's snapshot would fail at boot, so it is refused
		// with the copy that makes it this cluster's.
		{"restore another cluster's", components.ClusterArgs{BackupBucket: "ops-backups", RestoreFrom: "etcd-other/etcd-other-central-0/etcd-20261130T230000Z.db"}, []string{
			`restoreFrom: "etcd-other/etcd-other-central-0/etcd-20261130T230000Z.db" is below etcd-other/, another cluster's prefix; the central nodes of etcd-dev may read only below etcd-dev/`,
			"aws s3 cp s3://ops-backups/etcd-other/etcd-other-central-0/etcd-20261130T230000Z.db s3://ops-backups/etcd-dev/etcd-other-central-0/etcd-20261130T230000Z.db",
			`then set restoreFrom to "etcd-dev/etcd-other-central-0/etcd-20261130T230000Z.db"`}},
		{"restore another cluster's, created bucket", do(components.ClusterArgs{RestoreFrom: "etcd-prod/etcd-prod-central-2/etcd-20261130T230000Z.db"}), []string{
			`restoreFrom: "etcd-prod/etcd-prod-central-2/etcd-20261130T230000Z.db" is below etcd-prod/`,
			"s3://$(pulumi stack output backupBucket)/etcd-dev/etcd-prod-central-2/etcd-20261130T230000Z.db"}},
		{"restore a prefix that only starts alike", components.ClusterArgs{RestoreFrom: "etcd-dev-old/etcd-dev-central-0/etcd-20261130T230000Z.db"}, []string{`is below etcd-dev-old/, another cluster's prefix`}},
		{"encrypted restore without the identity", components.ClusterArgs{RestoreFrom: "etcd-dev/etcd-dev-central-0/etcd-20261130T230000Z.db.gz.age"}, []string{
			`restoreFrom: "etcd-dev/etcd-dev-central-0/etcd-20261130T230000Z.db.gz.age" is encrypted, and backupIdentity is not set`, "pulumi config set --secret backupIdentity"}},
		{"identity not an age identity", components.ClusterArgs{RestoreFrom: "latest", BackupIdentity: "AGE-SECRET-KEY-1NOTAKEY"}, []string{"backupIdentity: not an age identity", "AGE-SECRET-KEY-1..."}},
		{"not an AWS region", components.ClusterArgs{BackupCopyRegion: "europe"}, []string{`backupCopyRegion: "europe" is not an AWS region`, "us-east-2"}},
		{"the cluster's AWS region", components.ClusterArgs{BackupCopyRegion: "us-east-2"}, []string{`backupCopyRegion: "us-east-2" is the cluster's own region`, "another AWS region"}},
		{"no Spaces there", do(components.ClusterArgs{BackupCopyRegion: "nyc1"}), []string{`backupCopyRegion: "nyc1" has no DigitalOcean Spaces`, "ams3, atl1"}},
		{"the cluster's Spaces region", do(components.ClusterArgs{BackupCopyRegion: "nyc3"}), []string{`backupCopyRegion: "nyc3" is the cluster's own region`}},
		{"backups off", components.ClusterArgs{Backup: boolp(false), BackupCopyRegion: "us-west-2"}, []string{`backupCopyRegion: "us-west-2" is where a second copy of the backups goes, and backups are off`}},
		{"own bucket", components.ClusterArgs{BackupBucket: "ops-backups", BackupCopyRegion: "us-west-2"}, []string{`backupCopyRegion: "us-west-2" makes a second bucket`, `backupBucket "ops-backups" is yours`}},
		{"restore from the copy without restoreFrom", components.ClusterArgs{BackupCopyRegion: "us-west-2", RestoreFromCopy: true}, []string{"restoreFromCopy: true restores restoreFrom from the second copy, and restoreFrom is unset"}},
		{"restore from a copy there is not", components.ClusterArgs{RestoreFrom: "latest", RestoreFromCopy: true}, []string{"restoreFromCopy: true restores from the second copy, in backupCopyRegion, which is unset"}},
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
		// Sealed to the recipient; the identity is a secret output only.
		recipient, _ := out.values["backupRecipient"].(string)
		identity, err := age.ParseX25519Identity(fmt.Sprint(out.values["backupIdentity"]))
		if err != nil || identity.Recipient().String() != recipient || !out.secrets["backupIdentity"] || out.secrets["backupRecipient"] {
			t.Errorf("outputs backupRecipient %q (secret %v), backupIdentity secret %v, parses %v: want an age pair, the identity secret", recipient, out.secrets["backupRecipient"], out.secrets["backupIdentity"], err)
		}
		for _, c := range centrals(m, "aws") {
			ud := userData(t, c)
			files := cloudConfigFiles(t, ud)
			if !strings.Contains(files["/etc/etcd-backup.env"], "RCLONE_CONFIG_BACKUP_ENV_AUTH=true") || !strings.Contains(files["/opt/bin/etcd-backup"], "for to in backup:etcd-dev-backups/etcd-dev; do") ||
				!strings.Contains(files["/opt/bin/etcd-backup"], `"$to/`+c.Name+`/$sealed"`) {
				t.Errorf("%s does not upload under its own name with the instance role:\n%s", c.Name, files["/opt/bin/etcd-backup"])
			}
			if !strings.Contains(files["/opt/bin/etcd-backup"], "--recipient="+recipient+" ") || strings.Contains(ud, "AGE-SECRET-KEY") {
				t.Errorf("%s does not encrypt to %s, or carries an identity:\n%s", c.Name, recipient, files["/opt/bin/etcd-backup"])
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
		"etcd-dev/etcd-other-central-0/etcd-20261130T080000Z.db",
	}}
	for _, tc := range []struct {
		name, restore, want, err string
	}{
		{"latest", "latest", "etcd-dev/etcd-dev-central-1/etcd-20261130T110000Z.db", ""},
		{"named", "etcd-dev/etcd-dev-central-0/etcd-20261130T100000Z.db", "etcd-dev/etcd-dev-central-0/etcd-20261130T100000Z.db", ""},
		// Another cluster's snapshot, copied below this cluster's prefix as
		// the refusal of the original says: the one the nodes may read.
		{"another cluster's, copied", "etcd-dev/etcd-other-central-0/etcd-20261130T080000Z.db", "etcd-dev/etcd-other-central-0/etcd-20261130T080000Z.db", ""},
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
				if ud := writtenFile(t, userData(t, c), "/opt/bin/etcd-restore"); !strings.Contains(ud, `copyto "backup:etcd-dev-backups/`+tc.want+`"`) {
					t.Errorf("%s does not restore %s:\n%s", c.Name, tc.want, ud)
				}
			}
		})
	}
	// Encrypted snapshots: latest picks the newest, sealed or not; a sealed
	// one needs backupIdentity, which only the restoring nodes' user data
	// carries, and makes it a secret even with TLS off.
	sealed := map[string][]string{"etcd-dev-backups": append(slices.Clone(objects["etcd-dev-backups"]), "etcd-dev/etcd-dev-central-2/etcd-20261130T120000Z.db.gz.age")}
	identity, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("latest, encrypted, without the identity", func(t *testing.T) {
		m := pulumitest.New()
		m.Objects = sealed
		m, _, err := provisionOn(t, m, components.ClusterArgs{CentralCount: 3, RestoreFrom: "latest"})
		if err == nil || !strings.Contains(err.Error(), `restoreFrom: "latest" picks etcd-dev/etcd-dev-central-2/etcd-20261130T120000Z.db.gz.age, which is encrypted, and backupIdentity is not set`) {
			t.Fatalf("err = %v", err)
		}
		if n := len(centrals(m, "aws")); n != 0 {
			t.Errorf("%d central machines registered", n)
		}
	})
	t.Run("latest, encrypted", func(t *testing.T) {
		m := pulumitest.New()
		m.Objects = sealed
		m, out, err := provisionOn(t, m, components.ClusterArgs{CentralCount: 3, RestoreFrom: "latest", BackupIdentity: identity.String(),
			TLS: boolp(false), PlaintextAcknowledged: true})
		if err != nil {
			t.Fatal(err)
		}
		if !out.secrets["centralCloudConfig"] {
			t.Error("central user data carries backupIdentity and is not secret")
		}
		for _, c := range centrals(m, "aws") {
			if got := writtenFile(t, userData(t, c), cloudconfig.RestoreIdentityFile); strings.TrimSpace(got) != identity.String() {
				t.Errorf("%s: %s holds %q, want backupIdentity", c.Name, cloudconfig.RestoreIdentityFile, got)
			}
			if ud := writtenFile(t, userData(t, c), "/opt/bin/etcd-restore"); !strings.Contains(ud, "etcd-dev/etcd-dev-central-2/etcd-20261130T120000Z.db.gz.age") || !strings.Contains(ud, "--decrypt") {
				t.Errorf("%s does not decrypt the newest snapshot:\n%s", c.Name, ud)
			}
		}
		if strings.Contains(out.values["workerCloudConfig"].(string), "AGE-SECRET-KEY") {
			t.Error("workers carry backupIdentity")
		}
	})
	t.Run("latest of an empty bucket", func(t *testing.T) {
		_, _, err := provision(t, components.ClusterArgs{CentralCount: 3, RestoreFrom: "latest"})
		if err == nil || !strings.Contains(err.Error(), `restoreFrom: "latest", but bucket etcd-dev-backups holds no snapshot below etcd-dev/`) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestBackupHistoryOutlivesAMember: a created bucket keeps every version a
// node overwrote, and every snapshot once expired, at least as long as
// backupRetentionDays, on both clouds; the AWS central role may put, get and
// list below the cluster's prefix and nothing else (no ACL: the uploader
// sends none), and every delete and any change of versioning, lifecycle or
// object lock is denied it; on AWS object lock keeps every version for the
// retention (governance mode).
func TestBackupHistoryOutlivesAMember(t *testing.T) {
	for _, days := range []int{0, 45} {
		want := days
		if days == 0 {
			want = components.DefaultBackupRetentionDays
		}
		t.Run(fmt.Sprint("aws/", want), func(t *testing.T) {
			m, _ := mustProvision(t, components.ClusterArgs{CentralCount: 3, BackupRetentionDays: days})
			rule := m.OfType("aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2")[0].Inputs["rules"].ArrayValue()[0].ObjectValue()
			expire := pulumitest.Plain(rule["expiration"]).ObjectValue()["days"].NumberValue()
			noncurrent := pulumitest.Plain(rule["noncurrentVersionExpiration"]).ObjectValue()["noncurrentDays"].NumberValue()
			if expire != float64(want) || noncurrent < float64(want) {
				t.Errorf("snapshots expire after %v days and noncurrent versions after %v, want %d and at least %d", expire, noncurrent, want, want)
			}
			allowed, denied := policyActions(t, m)
			if want := []string{"s3:AbortMultipartUpload", "s3:GetObject", "s3:ListBucket", "s3:ListMultipartUploadParts", "s3:PutObject"}; !slices.Equal(allowed, want) {
				t.Errorf("central role may %v, want exactly %v", allowed, want)
			}
			if want := []string{"s3:BypassGovernanceRetention", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutBucketObjectLockConfiguration",
				"s3:PutBucketVersioning", "s3:PutLifecycleConfiguration", "s3:PutObjectLegalHold", "s3:PutObjectRetention"}; !slices.Equal(denied, want) {
				t.Errorf("central role is denied %v, want %v", denied, want)
			}
			// Every version locked for the retention, in governance mode.
			lock := m.OfType("aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2")
			if len(lock) != 1 {
				t.Fatalf("%d object lock configurations, want 1", len(lock))
			}
			retention := pulumitest.Plain(pulumitest.Plain(lock[0].Inputs["rule"]).ObjectValue()["defaultRetention"]).ObjectValue()
			if str(lock[0].Inputs, "objectLockEnabled") != "Enabled" || retention["mode"].StringValue() != "GOVERNANCE" || retention["days"].NumberValue() != float64(want) {
				t.Errorf("object lock %v, want enabled, GOVERNANCE for %d days", lock[0].Inputs, want)
			}
		})
		t.Run(fmt.Sprint("digitalocean/", want), func(t *testing.T) {
			m, _ := mustProvision(t, components.ClusterArgs{CentralCount: 3, Cloud: "digitalocean", Region: "nyc3", DNSZone: "etcd.example.com", BackupRetentionDays: days})
			rule := pulumitest.Plain(m.OfType("digitalocean:index/spacesBucket:SpacesBucket")[0].Inputs["lifecycleRules"]).ArrayValue()[0].ObjectValue()
			expire := pulumitest.Plain(rule["expiration"]).ObjectValue()["days"].NumberValue()
			noncurrent := pulumitest.Plain(rule["noncurrentVersionExpiration"]).ObjectValue()["days"].NumberValue()
			if expire != float64(want) || noncurrent < float64(want) {
				t.Errorf("snapshots expire after %v days and noncurrent versions after %v, want %d and at least %d", expire, noncurrent, want, want)
			}
		})
	}
}

// statement is one statement of an IAM policy document.
type statement struct {
	Effect    string
	Action    stringOrList
	Resource  stringOrList
	Condition map[string]map[string]stringOrList
}

// stringOrList is an IAM policy field that holds a string or a list of them.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

// rolePolicy is the central role's policy.
func rolePolicy(t *testing.T, m *pulumitest.Mocks) []statement {
	t.Helper()
	var doc struct{ Statement []statement }
	if err := json.Unmarshal([]byte(str(m.OfType("aws:iam/rolePolicy:RolePolicy")[0].Inputs, "policy")), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Statement
}

// policyActions are the actions the central role's policy allows and those
// it denies, sorted.
func policyActions(t *testing.T, m *pulumitest.Mocks) (allowed, denied []string) {
	for _, s := range rolePolicy(t, m) {
		if s.Effect == "Allow" {
			allowed = append(allowed, s.Action...)
		} else {
			denied = append(denied, s.Action...)
		}
	}
	slices.Sort(allowed)
	slices.Sort(denied)
	return allowed, denied
}

// permits tells whether the statements allow action on resource (an ARN),
// prefix being the s3:prefix of a listing: an Allow matches and no Deny does.
func permits(statements []statement, action, resource, prefix string) bool {
	glob := func(pattern, s string) bool {
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
		return regexp.MustCompile(re).MatchString(s)
	}
	matches := func(s statement) bool {
		if !slices.ContainsFunc(s.Action, func(a string) bool { return glob(a, action) }) ||
			!slices.ContainsFunc(s.Resource, func(r string) bool { return glob(r, resource) }) {
			return false
		}
		for op, keys := range s.Condition {
			for key, values := range keys {
				if op != "StringLike" || key != "s3:prefix" {
					return false // a condition this test cannot read permits nothing
				}
				if !slices.ContainsFunc(values, func(v string) bool { return glob(v, prefix) }) {
					return false
				}
			}
		}
		return true
	}
	allowed := false
	for _, s := range statements {
		if matches(s) {
			if s.Effect != "Allow" {
				return false
			}
			allowed = true
		}
	}
	return allowed
}

// s3Action is the IAM action and resource an S3 request (path style) needs,
// "" for one this test does not know, which fails it.
func s3Action(r *http.Request) (action, resource, prefix string) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	// The AWS SDK names its operation in x-id; S3 reads nothing from it.
	q.Del("x-id")
	if key == "" {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return "s3:ListBucket", "arn:aws:s3:::" + bucket, q.Get("prefix")
		}
		return "", "", ""
	}
	object := "arn:aws:s3:::" + bucket + "/" + key
	switch {
	case q.Has("acl") && r.Method == http.MethodPut:
		return "s3:PutObjectAcl", object, ""
	case q.Has("uploadId") && r.Method == http.MethodDelete:
		return "s3:AbortMultipartUpload", object, ""
	case q.Has("uploadId") && r.Method == http.MethodGet:
		return "s3:ListMultipartUploadParts", object, ""
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") == "",
		r.Method == http.MethodPost && (q.Has("uploads") || q.Has("uploadId")):
		// PutObject, and the multipart upload's create, parts and complete.
		return "s3:PutObject", object, ""
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && len(q) == 0:
		return "s3:GetObject", object, ""
	case r.Method == http.MethodDelete:
		return "s3:DeleteObject", object, ""
	}
	return "", "", ""
}

// cloudConfigFiles are the write_files of a cloud-config, by path, decoded
// as coreos-cloudinit writes them (scripts come gzip+base64).
func cloudConfigFiles(t *testing.T, userData string) map[string]string {
	t.Helper()
	var doc struct {
		WriteFiles []struct{ Path, Content, Encoding string } `yaml:"write_files"`
	}
	if err := yaml.Unmarshal([]byte(userData), &doc); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range doc.WriteFiles {
		b, err := config.DecodeContent(f.Content, f.Encoding)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		files[f.Path] = string(b)
	}
	return files
}

// rcloneCalls are the arguments a node's script gives the pinned rclone
// image, call by call, with the script's variables replaced by vars.
func rcloneCalls(t *testing.T, script string, vars map[string]string) [][]string {
	t.Helper()
	var calls [][]string
	for line := range strings.Lines(script) {
		_, after, ok := strings.Cut(line, " "+cloudconfig.RcloneImage+" ")
		if !ok {
			continue
		}
		after, _, _ = strings.Cut(after, " |") // a listing piped on, or || after a failure
		after, _, _ = strings.Cut(after, " &&")
		var args []string
		for _, m := range regexp.MustCompile(`"[^"]*"|\S+`).FindAllString(after, -1) {
			m = strings.Trim(m, `"`)
			for k, v := range vars {
				m = strings.ReplaceAll(m, "$"+k, v)
			}
			if strings.Contains(m, "$") {
				t.Fatalf("script runs rclone with %q, which this test cannot stand in for", m)
			}
			args = append(args, m)
		}
		calls = append(calls, args)
	}
	if calls == nil {
		t.Fatalf("no rclone in the script:\n%s", script)
	}
	return calls
}

// TestUploaderStaysInsideThePolicy runs the pinned rclone as a central
// node's user data has it run, with the node's own settings and flags: the
// upload of a snapshot (in one request, and in parts as a large one goes)
// and the restore's download of it take only requests the central role's
// policy allows below the cluster's prefix, and send no ACL. Every request
// passes a recording proxy on its way to a real S3 server (rclone serve s3).
func TestUploaderStaysInsideThePolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rclone (minutes, once) and serves S3")
	}
	ctx := context.Background()
	bin, err := nodescript.Rclone(ctx, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	const name = "etcd-20261130T100000Z.db"
	const sealed = "etcd-20261130T100000Z" + cloudconfig.SealedSuffix
	snapshot := "etcd-dev/etcd-dev-central-0/" + sealed
	identity, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	m := pulumitest.New()
	m.Objects = map[string][]string{"etcd-dev-backups": {snapshot}}
	m, _, err = provisionOn(t, m, components.ClusterArgs{CentralCount: 3, RestoreFrom: snapshot, BackupIdentity: identity.String()})
	if err != nil {
		t.Fatal(err)
	}
	files := cloudConfigFiles(t, userData(t, centrals(m, "aws")[0]))
	statements := rolePolicy(t, m)

	store, err := s3lab.Start(ctx, s3lab.Config{Rclone: bin, Dir: filepath.Join(t.TempDir(), "s3"), Buckets: []string{"etcd-dev-backups"}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var mu sync.Mutex
	var seen []*http.Request
	target, _ := url.Parse(store.Endpoint)
	forward := httputil.NewSingleHostReverseProxy(target)
	// HTTPS as on AWS, where the SDK rclone uses signs no payload and
	// sends its checksum after it.
	proxy := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Clone(context.Background()))
		mu.Unlock()
		forward.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	// The node's settings, but for where the store is and the key it
	// takes in place of the instance role.
	var env []string
	for line := range strings.Lines(files["/etc/etcd-backup.env"]) {
		if line = strings.TrimSpace(line); line != "" && line != "RCLONE_CONFIG_BACKUP_ENV_AUTH=true" {
			env = append(env, line)
		}
	}
	if !slices.Contains(env, "RCLONE_CONFIG_BACKUP_ACL=") {
		t.Errorf("the node's rclone settings %v do not set acl empty, which keeps rclone from sending x-amz-acl", env)
	}
	for _, kv := range store.RemoteEnv("backup") {
		if k, _, _ := strings.Cut(kv, "="); strings.HasSuffix(k, "_KEY_ID") || strings.HasSuffix(k, "_SECRET_ACCESS_KEY") {
			env = append(env, kv)
		}
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	env = append(env, "RCLONE_CONFIG_BACKUP_ENDPOINT="+proxy.URL, "RCLONE_CA_CERT="+ca, "HOME="+t.TempDir(), "RCLONE_CONFIG="+filepath.Join(t.TempDir(), "none.conf"))
	rclone := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rclone %v: %v\n%s", args, err, out)
		}
	}

	dir, work := t.TempDir(), t.TempDir()
	// to: the loop over the stores, of which this node has one.
	vars := map[string]string{"dir": dir, "name": name, "sealed": sealed, "work": work, "newest": "etcd-dev-central-0/" + sealed, "to": "backup:etcd-dev-backups/etcd-dev"}
	// The backup script's calls: the upload of the snapshot and of its
	// sha256, then the daily verification's listing and downloads.
	backup := rcloneCalls(t, files["/opt/bin/etcd-backup"], vars)
	if len(backup) != 5 {
		t.Fatalf("the backup script runs rclone %d times, want 5 (2 uploads, a listing, 2 downloads): %v", len(backup), backup)
	}
	// A member's database is up to 2 GiB, which rclone sends in parts past
	// its 200 MiB cutoff: the same in small, with the cutoff at its least
	// (and without checking the completed upload's ETag, which the lab's
	// server forms otherwise than S3). The sha256 goes in one request.
	data := bytes.Repeat([]byte("snapshot"), 1<<17)
	if err := os.WriteFile(filepath.Join(dir, sealed), slices.Concat(data, data, data, data, data, data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, sealed+".sha256"), data[:64], 0o600); err != nil {
		t.Fatal(err)
	}
	// The uploads first, then what the verification runs after them.
	slices.SortStableFunc(backup, func(a, b []string) int {
		return cmp.Compare(slices.Index(b, "--s3-no-check-bucket"), slices.Index(a, "--s3-no-check-bucket"))
	})
	upload := backup[0]
	if !slices.Contains(upload, "backup:etcd-dev-backups/etcd-dev/etcd-dev-central-0/"+sealed) {
		t.Fatalf("the first upload is %v, want the snapshot's", upload)
	}
	rclone(append(upload[:1:1], append([]string{"--s3-upload-cutoff=5Mi", "--s3-chunk-size=5Mi", "--s3-use-multipart-etag=false"}, upload[1:]...)...)...)
	for _, call := range backup[1:] {
		rclone(call...)
	}
	for _, call := range rcloneCalls(t, files["/opt/bin/etcd-restore"], vars) {
		rclone(call...)
	}
	if got, err := os.ReadFile(filepath.Join(work, "snapshot"+cloudconfig.SealedSuffix)); err != nil || len(got) != 6*len(data) {
		t.Fatalf("the restore downloaded %d bytes (%v), want the %d uploaded", len(got), err, 6*len(data))
	}

	actions := map[string]int{}
	for _, r := range seen {
		action, resource, prefix := s3Action(r)
		switch {
		case action == "":
			t.Errorf("%s %s: a request this test cannot map to an IAM action", r.Method, r.URL)
		case !permits(statements, action, resource, prefix):
			t.Errorf("%s %s needs %s on %s (prefix %q), which the central role's policy does not allow", r.Method, r.URL, action, resource, prefix)
		}
		for h := range r.Header {
			if h := strings.ToLower(h); h == "x-amz-acl" || strings.HasPrefix(h, "x-amz-grant-") {
				t.Errorf("%s %s sends %s: %v; the policy grants no s3:PutObjectAcl", r.Method, r.URL, h, r.Header.Values(h))
			}
		}
		actions[action]++
		if r.Method == http.MethodPost && r.URL.Query().Has("uploads") {
			actions["multipart"]++
		}
	}
	t.Logf("requests by IAM action: %v", actions)
	if actions["s3:PutObject"] == 0 || actions["s3:GetObject"] == 0 || actions["s3:ListBucket"] == 0 || actions["multipart"] == 0 {
		t.Errorf("requests by action %v: want uploads, in one request and in parts, a listing and downloads", actions)
	}
}

// writtenFile is the file at path as a node's coreos-cloudinit writes it
// from user data ud, decoded (scripts come gzip+base64).
func writtenFile(t *testing.T, ud, path string) string {
	t.Helper()
	cc, err := config.NewCloudConfig(ud)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cc.WriteFiles {
		if f.Path == path {
			b, err := config.DecodeContent(f.Content, f.Encoding)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return string(b)
		}
	}
	t.Fatalf("the user data writes no %s:\n%s", path, ud)
	return ""
}
