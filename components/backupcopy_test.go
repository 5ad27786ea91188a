package components_test

import (
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
)

// TestBackupCopy: with backupCopyRegion the program creates a second
// bucket like the first in that region (on AWS through a provider pinned
// there, on DigitalOcean at that region's endpoint), lets the central
// nodes write it as they write the first, and their backup unit uploads
// to both.
func TestBackupCopy(t *testing.T) {
	t.Run("aws", func(t *testing.T) {
		m, out := mustProvision(t, components.ClusterArgs{CentralCount: 3, BackupCopyRegion: "us-west-2"})
		buckets := m.OfType("aws:s3/bucketV2:BucketV2")
		locks := m.OfType("aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2")
		lifecycles := m.OfType("aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2")
		if len(buckets) != 2 || len(locks) != 2 || len(lifecycles) != 2 {
			t.Fatalf("%d buckets, %d object lock and %d lifecycle configurations; want 2 each", len(buckets), len(locks), len(lifecycles))
		}
		var copyProvider string
		for _, p := range m.OfType("pulumi:providers:aws") {
			if str(p.Inputs, "region") == "us-west-2" {
				copyProvider = p.Name
			}
		}
		for _, b := range append(buckets, locks...) {
			inCopy := strings.Contains(b.Name, "-backups-copy")
			if copyProvider == "" || strings.Contains(b.Provider, "::"+copyProvider+"::") != inCopy || !b.RetainOnDelete {
				t.Errorf("%s %s: provider %q, retained %v; want the copy's resources, only, through the us-west-2 provider (%q), all retained", b.Type, b.Name, b.Provider, b.RetainOnDelete, copyProvider)
			}
		}
		policy := str(m.OfType("aws:iam/rolePolicy:RolePolicy")[0].Inputs, "policy")
		for _, arn := range []string{"arn:aws:s3:::etcd-dev-backups/etcd-dev/*", "arn:aws:s3:::etcd-dev-backups-copy/etcd-dev/*", "arn:aws:s3:::etcd-dev-backups-copy/*"} {
			if !strings.Contains(policy, `"`+arn+`"`) {
				t.Errorf("the central role's policy does not name %s:\n%s", arn, policy)
			}
		}
		if out.values["backupCopyBucket"] != "etcd-dev-backups-copy" {
			t.Errorf("output backupCopyBucket %v", out.values["backupCopyBucket"])
		}
		for _, c := range centrals(m, "aws") {
			files := cloudConfigFiles(t, userData(t, c))
			if !strings.Contains(files["/etc/etcd-backup.env"], "RCLONE_CONFIG_COPY_REGION=us-west-2\n") || !strings.Contains(files["/etc/etcd-backup.env"], "RCLONE_CONFIG_COPY_ENV_AUTH=true") {
				t.Errorf("%s has no copy remote in us-west-2 on the instance role:\n%s", c.Name, files["/etc/etcd-backup.env"])
			}
			if !strings.Contains(files["/opt/bin/etcd-backup"], "for to in backup:etcd-dev-backups/etcd-dev copy:etcd-dev-backups-copy/etcd-dev; do") {
				t.Errorf("%s does not upload to both buckets:\n%s", c.Name, files["/opt/bin/etcd-backup"])
			}
		}
	})
	t.Run("digitalocean", func(t *testing.T) {
		m, out := mustProvision(t, components.ClusterArgs{CentralCount: 3, Cloud: "digitalocean", Region: "nyc3", DNSZone: "etcd.example.com", BackupCopyRegion: "ams3"})
		regions := map[string]string{}
		for _, b := range m.OfType("digitalocean:index/spacesBucket:SpacesBucket") {
			regions[b.Name] = str(b.Inputs, "region")
		}
		if len(regions) != 2 || regions["etcd-dev-backups"] != "nyc3" || regions["etcd-dev-backups-copy"] != "ams3" {
			t.Errorf("buckets %v; want etcd-dev-backups in nyc3 and etcd-dev-backups-copy in ams3", regions)
		}
		grants := pulumitest.Plain(m.OfType("digitalocean:index/spacesKey:SpacesKey")[0].Inputs["grants"]).ArrayValue()
		if len(grants) != 2 || grants[1].ObjectValue()["bucket"].StringValue() != "etcd-dev-backups-copy" || grants[1].ObjectValue()["permission"].StringValue() != "readwrite" {
			t.Errorf("the key's grants %v; want readwrite on both buckets", grants)
		}
		if out.values["backupCopyBucket"] != "etcd-dev-backups-copy" {
			t.Errorf("output backupCopyBucket %v", out.values["backupCopyBucket"])
		}
		env := cloudConfigFiles(t, userData(t, centrals(m, "digitalocean")[0]))["/etc/etcd-backup.env"]
		if !strings.Contains(env, "RCLONE_CONFIG_COPY_ENDPOINT=https://ams3.digitaloceanspaces.com\n") || !strings.Contains(env, "RCLONE_CONFIG_COPY_ACCESS_KEY_ID=DO00FAKE") {
			t.Errorf("no copy remote at ams3's endpoint with the Spaces key:\n%s", env)
		}
	})
}

// TestRestoreFromCopy: with restoreFromCopy, latest is the newest snapshot
// in the second bucket, whatever the first holds, and every member
// downloads it from the copy's remote.
func TestRestoreFromCopy(t *testing.T) {
	m := pulumitest.New()
	m.Objects = map[string][]string{
		"etcd-dev-backups":      {"etcd-dev/etcd-dev-central-0/etcd-20261130T120000Z.db"},
		"etcd-dev-backups-copy": {"etcd-dev/etcd-dev-central-1/etcd-20261130T110000Z.db", "etcd-dev/etcd-dev-central-2/etcd-20261130T100000Z.db"},
	}
	m, _, err := provisionOn(t, m, components.ClusterArgs{CentralCount: 3, BackupCopyRegion: "us-west-2", RestoreFrom: "latest", RestoreFromCopy: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range centrals(m, "aws") {
		if script := writtenFile(t, userData(t, c), "/opt/bin/etcd-restore"); !strings.Contains(script, `copyto "copy:etcd-dev-backups-copy/etcd-dev/etcd-dev-central-1/etcd-20261130T110000Z.db"`) {
			t.Errorf("%s does not restore the copy's newest snapshot from the copy:\n%s", c.Name, script)
		}
	}
	m = pulumitest.New()
	m.Objects = map[string][]string{"etcd-dev-backups": {"etcd-dev/etcd-dev-central-0/etcd-20261130T120000Z.db"}}
	_, _, err = provisionOn(t, m, components.ClusterArgs{CentralCount: 3, BackupCopyRegion: "us-west-2", RestoreFrom: "etcd-dev/etcd-dev-central-0/etcd-20261130T120000Z.db", RestoreFromCopy: true})
	if err == nil || !strings.Contains(err.Error(), `restoreFrom: "etcd-dev/etcd-dev-central-0/etcd-20261130T120000Z.db" is not in bucket etcd-dev-backups-copy`) {
		t.Errorf("a key only the first bucket holds, from the copy: %v", err)
	}
}

// TestBackupRevisionThreshold: backupRevisionThreshold gives central nodes
// a check every 5 minutes that starts a snapshot once the revision moved
// more than it, and is refused out of bounds or with backups off.
func TestBackupRevisionThreshold(t *testing.T) {
	refused(t, components.ClusterArgs{CentralCount: 3, BackupRevisionThreshold: -5}, "backupRevisionThreshold: -5 is not allowed; want 0 (no snapshot but the schedule's) or up to 1000000000 revisions")
	refused(t, components.ClusterArgs{CentralCount: 3, Backup: boolp(false), BackupRevisionThreshold: 5000}, "backupRevisionThreshold: 5000 starts a snapshot when the revision moves, and backups are off")
	for _, threshold := range []int{0, 5000} {
		m, _ := mustProvision(t, components.ClusterArgs{CentralCount: 3, BackupRevisionThreshold: threshold})
		for _, c := range centrals(m, "aws") {
			ud := userData(t, c)
			check := cloudConfigFiles(t, ud)["/opt/bin/etcd-backup-moved"]
			switch {
			case threshold == 0 && (check != "" || strings.Contains(ud, "etcd-backup-moved")):
				t.Errorf("%s: no threshold, and a revision check is rendered", c.Name)
			case threshold > 0 && (!strings.Contains(check, "-le 5000 ]") || !strings.Contains(ud, "OnCalendar=*:0/5")):
				t.Errorf("%s: threshold %d, and no check of it every 5 minutes:\n%s", c.Name, threshold, check)
			}
		}
	}
}
