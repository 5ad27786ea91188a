package cloudconfig_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/coreos-cloudinit/config"
	"github.com/coreos/coreos-cloudinit/config/validate"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

var update = flag.Bool("update", false, "rewrite the golden files from the renderer")

const discoveryURL = "https://discovery.etcd.io/3e86b59982e49066c5d813af1c2e2579"

var endpoints = []string{"10.21.0.10:2379", "10.21.16.10:2379", "10.21.32.10:2379"}

// housekeeping is what every flatcar node of the tests keeps its database with.
var housekeeping = cloudconfig.Housekeeping{CompactionRetention: "30m", QuotaBytes: 4 << 30}

// render produces every flavor x role x worker proxy, keyed by golden file name.
func render(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	static := []cloudconfig.Member{
		{Name: "etcd-dev-central-0", Host: "10.21.0.10"}, {Name: "etcd-dev-central-1", Host: "10.21.16.10"}, {Name: "etcd-dev-central-2", Host: "10.21.32.10"},
	}
	for _, f := range cloudconfig.Flavors {
		versions := []cloudconfig.EtcdVersion{""} // coreos-etcd2 runs its image's etcd2
		if f == cloudconfig.Flatcar {
			versions = cloudconfig.EtcdVersions
		}
		for _, v := range versions {
			for _, p := range cloudconfig.WorkerProxies {
				for _, boot := range []string{"discovery", "static"} {
					c := cloudconfig.Settings{
						Flavor:            f,
						WorkerProxy:       p,
						EtcdVersion:       v,
						DiscoveryURL:      discoveryURL,
						SSHAuthorizedKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@example.com"},
					}
					name := string(f)
					if v != "" {
						name += "-etcd" + string(v)
					}
					if f == cloudconfig.Flatcar {
						c.Housekeeping = housekeeping
					}
					if boot == "static" {
						c.DiscoveryURL, c.InitialCluster, c.ClusterToken = "", static, "etcd-dev"
						name += "-static"
					}
					if !f.Supports(p) || p == cloudconfig.V2Proxy && (f == cloudconfig.Flatcar && !v.ServesV2() || boot == "static") ||
						f == cloudconfig.CoreOSEtcd2 && boot == "static" || boot == "discovery" && v != "" && !v.HasV2Discovery() {
						continue
					}
					if p == cloudconfig.GRPCProxy {
						c.TLS = testTLS(t, "member")
					}
					central, err := c.Central("etcd-dev-central-0", "/dev/xvdf")
					if err != nil {
						t.Fatalf("%s central: %v", name, err)
					}
					if c.TLS != nil {
						c.TLS = testTLS(t, "client")
					}
					worker, err := c.Worker(endpoints)
					if err != nil {
						t.Fatalf("%s worker: %v", name, err)
					}
					out[name+"-"+string(p)+"-central.yaml"] = central
					out[name+"-"+string(p)+"-worker.yaml"] = worker
				}
			}
		}
	}
	// A central node that backs up, with TLS, on AWS's instance role.
	c := cloudconfig.Settings{Flavor: cloudconfig.Flatcar, WorkerProxy: cloudconfig.GRPCProxy, EtcdVersion: cloudconfig.Etcd36,
		InitialCluster: static, ClusterToken: "etcd-dev", TLS: testTLS(t, "member"), Housekeeping: housekeeping,
		Backup: &cloudconfig.Backup{Schedule: "hourly", Path: "etcd-dev-backups/etcd/etcd-dev", Recipient: testRecipient,
			Store: cloudconfig.ObjectStore{Provider: "AWS", Region: "us-east-2"}}}
	central, err := c.Central("etcd-dev-central-0", "/dev/xvdf")
	if err != nil {
		t.Fatalf("backup central: %v", err)
	}
	out["flatcar-etcd3.6-static-grpc-proxy-backup-central.yaml"] = central
	c.Restore, c.RestoreIdentity = "etcd-dev-backups/etcd/etcd-dev/etcd-dev-central-1/etcd-20261130T120000Z.db.gz.age", testIdentity
	if central, err = c.Central("etcd-dev-central-0", "/dev/xvdf"); err != nil {
		t.Fatalf("restore central: %v", err)
	}
	out["flatcar-etcd3.6-static-grpc-proxy-restore-central.yaml"] = central
	// Spaces with a second copy in another region, restoring from it.
	spaces := func(region string) cloudconfig.ObjectStore {
		return cloudconfig.ObjectStore{Provider: "DigitalOcean", Region: region, Endpoint: "https://" + region + ".digitaloceanspaces.com", AccessKeyID: "DO00KEY", SecretAccessKey: "spaces-secret"}
	}
	c.Backup = &cloudconfig.Backup{Schedule: "hourly", Path: "etcd-dev-backups/etcd-dev", Recipient: testRecipient, Store: spaces("nyc3"),
		Copy: &cloudconfig.BackupCopy{Path: "etcd-dev-backups-copy/etcd-dev", Store: spaces("ams3")}, RevisionThreshold: 10000}
	c.Restore, c.RestoreFromCopy = "etcd-dev-backups-copy/etcd-dev/etcd-dev-central-1/etcd-20261130T120000Z.db.gz.age", true
	if central, err = c.Central("etcd-dev-central-0", "/dev/xvdf"); err != nil {
		t.Fatalf("restore from the copy central: %v", err)
	}
	out["flatcar-etcd3.6-static-grpc-proxy-restore-copy-central.yaml"] = central
	return out
}

// testIdentity and testRecipient are an age key pair for tests only, fixed
// so that the golden files are.
const (
	testIdentity  = "AGE-SECRET-KEY-1Q39U44R0R82FG2RJD5929QQDPR7PR9XG4QQR40MF4K3CE4Y787VSNNXZCY"
	testRecipient = "age1y4j7uhg0dxcqtgk7yeanp983c9lj7qp6zeq247u4g50a7qpm7ehqpk7t9j"
)

// testTLS is a node's pair from testdata/tls: test-only keys, fixed so
// that the golden files are.
func testTLS(t *testing.T, pair string) *cloudconfig.NodeTLS {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "tls", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return &cloudconfig.NodeTLS{CACert: read("ca.crt"), Cert: read(pair + ".crt"), Key: read(pair + ".key")}
}

func TestGolden(t *testing.T) {
	for name, got := range render(t) {
		t.Run(name, func(t *testing.T) { golden(t, name, []byte(got)) })
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./components/cloudconfig -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("rendering differs from %s (rerun with -update if intended):\n%s", path, got)
	}
}

// TestValidator runs every rendering through coreos-cloudinit's own validator:
// no errors for any flavor, and no warnings either for flatcar.
func TestValidator(t *testing.T) {
	for name, text := range render(t) {
		t.Run(name, func(t *testing.T) {
			report, err := validate.Validate([]byte(text))
			if err != nil {
				t.Fatalf("validator: %v", err)
			}
			for _, e := range report.Entries() {
				msg := e.String()
				flatcar := strings.HasPrefix(name, string(cloudconfig.Flatcar))
				if strings.HasPrefix(msg, "error") || flatcar {
					t.Errorf("%s", msg)
				} else {
					t.Logf("%s", msg)
				}
			}
		})
	}
}

// TestValidatorCatchesMistakes keeps TestValidator honest: the same
// renderings with one value broken are reported.
func TestValidatorCatchesMistakes(t *testing.T) {
	for name, text := range render(t) {
		broken := strings.Replace(text, "#cloud-config", "#cloud-config\nhostname: [not, a, string]", 1)
		report, err := validate.Validate([]byte(broken))
		if err == nil && len(report.Entries()) == 0 {
			t.Errorf("%s: a list where a string belongs goes unreported", name)
		}
	}
}

func TestRenderRejects(t *testing.T) {
	good := cloudconfig.Settings{Flavor: cloudconfig.Flatcar, WorkerProxy: cloudconfig.Gateway, EtcdVersion: cloudconfig.Etcd36, DiscoveryURL: discoveryURL, Housekeeping: housekeeping}
	cases := []struct {
		name string
		run  func() (string, error)
		want string
	}{
		{"bad member name", func() (string, error) { return good.Central("Central 0", "/dev/xvdf") }, "central node name"},
		{"data device outside /dev", func() (string, error) { return good.Central("c-0", "xvdf; rm -rf /") }, "not a /dev path"},
		{"gateway without endpoints", func() (string, error) { return good.Worker(nil) }, "no central endpoints"},
		{"endpoint breaking the unit", func() (string, error) { return good.Worker([]string{"10.0.0.1:2379 --x"}) }, "not host:port"},
		{"etcd2 gateway", func() (string, error) {
			c := good
			c.Flavor = cloudconfig.CoreOSEtcd2
			return c.Worker(endpoints)
		}, "cannot run worker proxy"},
		{"unknown flavor", func() (string, error) {
			c := good
			c.Flavor = "ubuntu"
			return c.Central("c-0", "/dev/xvdf")
		}, "unknown flavor"},
		{"unknown etcd line", func() (string, error) {
			c := good
			c.EtcdVersion = "3.4"
			return c.Central("c-0", "/dev/xvdf")
		}, "etcd version"},
		{"v2 proxy on etcd 3.6", func() (string, error) {
			c := good
			c.WorkerProxy = cloudconfig.V2Proxy
			return c.Worker(nil)
		}, "no v2 proxy"},
		{"discovery on etcd 3.7", func() (string, error) {
			c := good
			c.EtcdVersion = cloudconfig.Etcd37
			return c.Central("c-0", "/dev/xvdf")
		}, "bootstrap it statically"},
		{"central node outside the initial cluster", func() (string, error) {
			c := good
			c.DiscoveryURL, c.ClusterToken = "", "etcd-dev"
			c.InitialCluster = []cloudconfig.Member{{Name: "c-1", Host: "10.0.0.1"}}
			return c.Central("c-0", "/dev/xvdf")
		}, "not in the initial cluster"},
		{"host breaking the unit", func() (string, error) {
			c := good
			c.DiscoveryURL, c.ClusterToken = "", "etcd-dev"
			c.InitialCluster = []cloudconfig.Member{{Name: "c-0", Host: "10.0.0.1 --x"}}
			return c.Central("c-0", "/dev/xvdf")
		}, "letters, digits, dots and dashes"},
		{"discovery URL with a quote", func() (string, error) {
			c := good
			c.DiscoveryURL = `https://x/"y`
			return c.Central("c-0", "/dev/xvdf")
		}, "discovery URL"},
		{"backup schedule breaking the unit", backingUp(good, func(c *cloudconfig.Settings) { c.Backup.Schedule = "hourly\nExecStartPre=/bin/sh" }), "backup schedule"},
		{"backup path breaking the script", backingUp(good, func(c *cloudconfig.Settings) { c.Backup.Path = `bucket/"; rm -rf /; "` }), "backup path"},
		{"backup endpoint not a URL", backingUp(good, func(c *cloudconfig.Settings) { c.Backup.Store.Endpoint = "nyc3.example.com" }), "backup store endpoint"},
		{"backup key without its secret", backingUp(good, func(c *cloudconfig.Settings) { c.Backup.Store.AccessKeyID = "AK" }), "backup store key"},
		{"backup secret spanning lines", backingUp(good, func(c *cloudconfig.Settings) {
			c.Backup.Store.AccessKeyID, c.Backup.Store.SecretAccessKey = "AK", "s\nRCLONE_CONFIG_BACKUP_ENDPOINT=https://elsewhere"
		}), "backup store key"},
		{"copy path breaking the script", backingUp(good, func(c *cloudconfig.Settings) {
			c.Backup.Copy = &cloudconfig.BackupCopy{Path: `copy/"; rm -rf /; "`, Store: c.Backup.Store}
		}), "backup copy path"},
		{"copy secret spanning lines", backingUp(good, func(c *cloudconfig.Settings) {
			c.Backup.Copy = &cloudconfig.BackupCopy{Path: "copy/etcd-dev", Store: cloudconfig.ObjectStore{Provider: "AWS", AccessKeyID: "AK", SecretAccessKey: "s\nRCLONE_CONFIG_COPY_ENDPOINT=https://elsewhere"}}
		}), "backup copy: backup store key"},
		{"negative revision threshold", backingUp(good, func(c *cloudconfig.Settings) { c.Backup.RevisionThreshold = -1 }), "backup revision threshold -1"},
		{"restore from a copy there is not", backingUp(good, func(c *cloudconfig.Settings) {
			c.DiscoveryURL, c.ClusterToken, c.InitialCluster = "", "etcd-dev", []cloudconfig.Member{{Name: "c-0", Host: "10.21.0.10"}}
			c.Restore, c.RestoreFromCopy = "b/etcd-dev/c-0/etcd-20261130T120000Z.db", true
		}), "there is no backup copy"},
		{"backup without a recipient", backingUp(good, func(c *cloudconfig.Settings) { c.Backup.Recipient = "" }), "backup recipient"},
		{"backup recipient breaking the script", backingUp(good, func(c *cloudconfig.Settings) { c.Backup.Recipient = testRecipient + "; rm -rf /" }), "backup recipient"},
		{"encrypted restore without the identity", backingUp(good, func(c *cloudconfig.Settings) {
			c.DiscoveryURL, c.ClusterToken, c.InitialCluster = "", "etcd-dev", []cloudconfig.Member{{Name: "c-0", Host: "10.21.0.10"}}
			c.Restore = "b/etcd-dev/c-0/etcd-20261130T120000Z.db.gz.age"
		}), "want the age identity"},
		{"restore without static bootstrap", backingUp(good, func(c *cloudconfig.Settings) { c.Restore = "b/etcd-dev/c-0/etcd-20261130T120000Z.db" }), "static bootstrap's initial cluster"},
		{"backup on etcd2", backingUp(good, func(c *cloudconfig.Settings) {
			c.Flavor, c.WorkerProxy, c.Housekeeping = cloudconfig.CoreOSEtcd2, cloudconfig.V2Proxy, cloudconfig.Housekeeping{}
		}), "flatcar nodes only"},
		{"no compaction", func() (string, error) {
			c := good
			c.Housekeeping.CompactionRetention = ""
			return c.Central("c-0", "/dev/xvdf")
		}, "housekeeping"},
		{"retention breaking the unit", func() (string, error) {
			c := good
			c.Housekeeping.CompactionRetention = "30m\nExecStartPre=/bin/sh"
			return c.Central("c-0", "/dev/xvdf")
		}, "housekeeping"},
		{"no quota", func() (string, error) {
			c := good
			c.Housekeeping.QuotaBytes = 0
			return c.Central("c-0", "/dev/xvdf")
		}, "housekeeping"},
		{"housekeeping on etcd2", func() (string, error) {
			c := good
			c.Flavor, c.WorkerProxy = cloudconfig.CoreOSEtcd2, cloudconfig.V2Proxy
			return c.Central("c-0", "/dev/xvdf")
		}, "flatcar nodes only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// backingUp renders a central node of good that backs up, once change has
// been made to its settings.
func backingUp(good cloudconfig.Settings, change func(*cloudconfig.Settings)) func() (string, error) {
	return func() (string, error) {
		c := good
		c.Backup = &cloudconfig.Backup{Schedule: "hourly", Path: "b/etcd-dev", Recipient: testRecipient, Store: cloudconfig.ObjectStore{Provider: "AWS", Region: "us-east-2"}}
		change(&c)
		return c.Central("c-0", "/dev/xvdf")
	}
}

// TestScriptGolden decodes the scripts central nodes' user data carries
// compressed (the defragmentation's, the restore's) with coreos-cloudinit's
// own decoder, as the node writes them, and compares each with its golden
// file: this is where a reviewer reads them.
func TestScriptGolden(t *testing.T) {
	static := []cloudconfig.Member{{Name: "etcd-dev-central-0", Host: "10.21.0.10"}}
	tlsCentral := cloudconfig.Settings{Flavor: cloudconfig.Flatcar, WorkerProxy: cloudconfig.GRPCProxy, EtcdVersion: cloudconfig.Etcd36,
		InitialCluster: static, ClusterToken: "etcd-dev", TLS: testTLS(t, "member"), Housekeeping: housekeeping}
	restoring := tlsCentral
	joining := tlsCentral
	joining.InitialCluster = append(static, cloudconfig.Member{Name: "etcd-dev-central-1", Host: "10.21.16.10"}, cloudconfig.Member{Name: "etcd-dev-central-2", Host: "10.21.32.10"})
	restoring.Backup = &cloudconfig.Backup{Schedule: "hourly", Path: "etcd-dev-backups/etcd/etcd-dev", Recipient: testRecipient, Store: cloudconfig.ObjectStore{Provider: "AWS", Region: "us-east-2"}}
	restoring.Restore, restoring.RestoreIdentity = "etcd-dev-backups/etcd/etcd-dev/etcd-dev-central-1/etcd-20261130T120000Z.db.gz.age", testIdentity
	// A snapshot uploaded before snapshots were encrypted.
	restoringPlain := restoring
	restoringPlain.Restore, restoringPlain.RestoreIdentity = "etcd-dev-backups/etcd/etcd-dev/etcd-dev-central-1/etcd-20261130T120000Z.db", ""
	// With a second store, restoring from it.
	copying := restoring
	copying.Backup = &cloudconfig.Backup{Schedule: "hourly", Path: "etcd-dev-backups/etcd/etcd-dev", Recipient: testRecipient, Store: cloudconfig.ObjectStore{Provider: "AWS", Region: "us-east-2"},
		Copy: &cloudconfig.BackupCopy{Path: "etcd-dev-backups-copy/etcd-dev", Store: cloudconfig.ObjectStore{Provider: "AWS", Region: "us-west-2"}}, RevisionThreshold: 10000}
	copying.Restore, copying.RestoreFromCopy = "etcd-dev-backups-copy/etcd-dev/etcd-dev-central-1/etcd-20261130T120000Z.db.gz.age", true
	for name, tc := range map[string]struct {
		c    cloudconfig.Settings
		path string
	}{
		"backup-copy.sh":  {copying, "/opt/bin/etcd-backup"},
		"restore-copy.sh": {copying, "/opt/bin/etcd-restore"},
		"backup-moved.sh": {copying, cloudconfig.RevisionCheck.Script},
		"defrag-tls.sh":   {tlsCentral, cloudconfig.DefragScript},
		"join.sh":         {joining, cloudconfig.Join.Script},
		"leave.sh":        {joining, cloudconfig.Leave.Script},
		"defrag-plaintext.sh": {cloudconfig.Settings{Flavor: cloudconfig.Flatcar, WorkerProxy: cloudconfig.Gateway, EtcdVersion: cloudconfig.Etcd35,
			DiscoveryURL: discoveryURL, Housekeeping: housekeeping}, cloudconfig.DefragScript},
		"backup.sh":        {restoring, "/opt/bin/etcd-backup"},
		"restore.sh":       {restoring, "/opt/bin/etcd-restore"},
		"restore-plain.sh": {restoringPlain, "/opt/bin/etcd-restore"},
	} {
		c := tc.c
		t.Run(name, func(t *testing.T) {
			text, err := c.Central("etcd-dev-central-0", "/dev/xvdf")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name, writtenFile(t, text, tc.path))
		})
	}
}

// writtenFile is the content, decoded, of the file userData writes at path.
func writtenFile(t *testing.T, userData, path string) []byte {
	t.Helper()
	cc, err := config.NewCloudConfig(userData)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cc.WriteFiles {
		if f.Path == path {
			b, err := config.DecodeContent(f.Content, f.Encoding)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return b
		}
	}
	t.Fatalf("no %s in the user data", path)
	return nil
}
