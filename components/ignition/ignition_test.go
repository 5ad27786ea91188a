package ignition_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/coreos-cloudinit/config"
	ign "github.com/coreos/ignition/v2/config/v3_4"
	"github.com/coreos/ignition/v2/config/v3_4/types"
	"github.com/vincent-petithory/dataurl"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/components/ignition"
)

var update = flag.Bool("update", false, "rewrite the golden files from the renderer")

const (
	discoveryURL = "https://discovery.etcd.io/3e86b59982e49066c5d813af1c2e2579"
	addressVar   = "COREOS_EC2_IPV4_LOCAL"
	device       = "/dev/xvdf"
)

var endpoints = []string{"10.21.0.10:2379", "10.21.16.10:2379", "10.21.32.10:2379"}

// rendering is one node's user data in both formats, from the same settings.
type rendering struct{ ignition, cloudConfig string }

// render produces every supported combination (flatcar: etcd line x worker
// proxy x bootstrap, and a central node with backups and one restoring),
// keyed by golden file name.
func render(t *testing.T) map[string]rendering {
	t.Helper()
	out := map[string]rendering{}
	static := []cloudconfig.Member{
		{Name: "etcd-dev-central-0", Host: "10.21.0.10"}, {Name: "etcd-dev-central-1", Host: "10.21.16.10"}, {Name: "etcd-dev-central-2", Host: "10.21.32.10"},
	}
	add := func(name string, c cloudconfig.Settings) {
		central, err := ignition.Central(c, addressVar, "etcd-dev-central-0", device)
		if err != nil {
			t.Fatalf("%s central: %v", name, err)
		}
		cc, _ := c.Central("etcd-dev-central-0", device)
		out[name+"-central.ign"] = rendering{central, cc}
		if c.Backup != nil {
			return
		}
		if c.TLS != nil {
			c.TLS = testTLS(t, "client")
		}
		worker, err := ignition.Worker(c, addressVar, endpoints)
		if err != nil {
			t.Fatalf("%s worker: %v", name, err)
		}
		cc, _ = c.Worker(endpoints)
		out[name+"-worker.ign"] = rendering{worker, cc}
	}
	for _, v := range cloudconfig.EtcdVersions {
		for _, p := range cloudconfig.WorkerProxies {
			for _, boot := range []string{"discovery", "static"} {
				c := cloudconfig.Settings{
					Flavor: cloudconfig.Flatcar, WorkerProxy: p, EtcdVersion: v, DiscoveryURL: discoveryURL,
					SSHAuthorizedKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@example.com"},
					Housekeeping:      cloudconfig.Housekeeping{CompactionRetention: "30m", QuotaBytes: 4 << 30},
				}
				name := "flatcar-etcd" + string(v)
				if boot == "static" {
					c.DiscoveryURL, c.InitialCluster, c.ClusterToken = "", static, "etcd-dev"
					name += "-static"
				}
				if p == cloudconfig.V2Proxy && (!v.ServesV2() || boot == "static") || boot == "discovery" && !v.HasV2Discovery() {
					continue
				}
				if p == cloudconfig.GRPCProxy {
					c.TLS = testTLS(t, "member")
				}
				add(name+"-"+string(p), c)
			}
		}
	}
	c := cloudconfig.Settings{Flavor: cloudconfig.Flatcar, WorkerProxy: cloudconfig.GRPCProxy, EtcdVersion: cloudconfig.Etcd36,
		InitialCluster: static, ClusterToken: "etcd-dev", TLS: testTLS(t, "member"),
		Housekeeping: cloudconfig.Housekeeping{CompactionRetention: "30m", QuotaBytes: 4 << 30},
		Backup: &cloudconfig.Backup{Schedule: "hourly", Path: "etcd-dev-backups/etcd/etcd-dev", Recipient: testRecipient,
			Store: cloudconfig.ObjectStore{Provider: "AWS", Region: "us-east-2"}}}
	add("flatcar-etcd3.6-static-grpc-proxy-backup", c)
	c.Backup = nil
	// The cloud-config auth goldens' settings, so that the rehearsal's reader
	// can compare the two.
	c.Auth = &cloudconfig.Auth{Roots: []string{"etcd-dev-central-0", "etcd-dev-central-1", "etcd-dev-central-2", "etcd-dev-operator"},
		Workers: "etcd-dev-workers", Password: "0123456789abcdef0123456789abcdef", KeyPrefixes: []string{""}}
	add("flatcar-etcd3.6-static-grpc-proxy-auth", c)
	return out
}

// testRecipient is the cloud-config goldens' test-only age recipient.
const testRecipient = "age1y4j7uhg0dxcqtgk7yeanp983c9lj7qp6zeq247u4g50a7qpm7ehqpk7t9j"

// testTLS is a node's pair from the cloud-config goldens' test-only keys.
func testTLS(t *testing.T, pair string) *cloudconfig.NodeTLS {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "cloudconfig", "testdata", "tls", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return &cloudconfig.NodeTLS{CACert: read("ca.crt"), Cert: read(pair + ".crt"), Key: read(pair + ".key")}
}

// TestGolden compares every rendering, indented, with its golden file.
func TestGolden(t *testing.T) {
	for name, r := range render(t) {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := json.Indent(&b, []byte(r.ignition), "", "  "); err != nil {
				t.Fatal(err)
			}
			got := b.String() + "\n"
			path := filepath.Join("testdata", name)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./components/ignition -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("rendering differs from %s (rerun with -update if intended):\n%s", path, got)
			}
		})
	}
}

// TestValidator parses every rendering with Ignition's own parser, which
// validates it: no error and no warning. Every file the cloud-config
// writes is written with the same content, mode and owner, and every
// unit it runs is there, but those Ignition replaces.
func TestValidator(t *testing.T) {
	for name, r := range render(t) {
		t.Run(name, func(t *testing.T) {
			cfg := parse(t, r.ignition)
			cc, err := config.NewCloudConfig(r.cloudConfig)
			if err != nil {
				t.Fatal(err)
			}
			files := map[string]types.File{}
			for _, f := range cfg.Storage.Files {
				files[f.Path] = f
			}
			for _, want := range cc.WriteFiles {
				f, ok := files[want.Path]
				if !ok {
					t.Errorf("%s: written by cloud-config, not by Ignition", want.Path)
					continue
				}
				text, err := config.DecodeContent(want.Content, want.Encoding)
				if err != nil {
					t.Fatal(err)
				}
				if got := contents(t, f); got != string(text) {
					t.Errorf("%s: content differs:\n%s\nwant\n%s", want.Path, got, text)
				}
				if got := fmt.Sprintf("%04o", *f.Mode); got != want.RawFilePermissions {
					t.Errorf("%s: mode %s, want %s", want.Path, got, want.RawFilePermissions)
				}
				user, _, _ := strings.Cut(want.Owner, ":")
				if f.User.Name == nil || *f.User.Name != user {
					t.Errorf("%s: user %v, want %s", want.Path, f.User.Name, user)
				}
			}
			wanted := map[string]bool{}
			for _, l := range cfg.Storage.Links {
				if dir, name, _ := strings.Cut(l.Path, ignition.WantsDir(ignition.BootTarget)+"/"); dir == "" && l.Target != nil && *l.Target == "/etc/systemd/system/"+name {
					wanted[name] = true
				}
			}
			units := map[string]types.Unit{}
			for _, u := range cfg.Systemd.Units {
				units[u.Name] = u
			}
			for _, want := range cc.CoreOS.Units {
				u, ok := units[want.Name]
				switch {
				case !ok:
					t.Errorf("unit %s: run by cloud-config, not by Ignition", want.Name)
				case (want.Command == "start") != (u.Enabled != nil && *u.Enabled || wanted[want.Name]):
					t.Errorf("unit %s: command %q, enabled %v, wanted by %s %v", want.Name, want.Command, u.Enabled, ignition.BootTarget, wanted[want.Name])
				}
			}
			if m, ok := units[cloudconfig.MemberUnit]; ok {
				if m.Contents == nil || !strings.Contains(*m.Contents, "/usr/bin/docker run --name=etcd-member --network=host") {
					t.Errorf("%s: not the project's own unit:\n%v", cloudconfig.MemberUnit, m.Contents)
				}
				if strings.Contains(*m.Contents, "$private_ipv4") || strings.Contains(r.cloudConfig, "$private_ipv4") && !strings.Contains(*m.Contents, "${"+addressVar+"}") {
					t.Errorf("%s: the node's address is not the metadata agent's:\n%s", cloudconfig.MemberUnit, *m.Contents)
				}
			}
		})
	}
}

// parse reads text with Ignition's parser and fails on any report entry.
func parse(t *testing.T, text string) types.Config {
	t.Helper()
	cfg, report, err := ign.Parse([]byte(text))
	if err != nil || len(report.Entries) > 0 {
		t.Fatalf("ignition: %v\n%s", err, report)
	}
	return cfg
}

// contents decodes a file's data URL, gunzipped when Butane compressed it.
func contents(t *testing.T, f types.File) string {
	t.Helper()
	if f.Contents.Source == nil {
		return ""
	}
	u, err := dataurl.DecodeString(*f.Contents.Source)
	if err != nil {
		t.Fatalf("%s: %v", f.Path, err)
	}
	if f.Contents.Compression == nil || *f.Contents.Compression == "" {
		return string(u.Data)
	}
	z, err := gzip.NewReader(bytes.NewReader(u.Data))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestValidatorCatchesMistakes keeps TestValidator honest: a rendering
// with a relative file path is refused by Ignition's parser.
func TestValidatorCatchesMistakes(t *testing.T) {
	for name, r := range render(t) {
		broken := strings.Replace(r.ignition, `"path":"/`, `"path":"`, 1)
		if broken == r.ignition {
			t.Fatalf("%s: no path to break", name)
		}
		if _, report, err := ign.Parse([]byte(broken)); err == nil && len(report.Entries) == 0 {
			t.Errorf("%s: a relative path goes unreported", name)
		}
	}
}

// TestTranslateIsStrict: a Butane warning (here, a file mode Ignition
// would apply but that cannot be what was meant) fails the rendering.
func TestTranslateIsStrict(t *testing.T) {
	warned := "variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - path: /etc/x\n      mode: 644\n      contents:\n        inline: x\n"
	if _, err := ignition.Translate(warned); err == nil || !strings.Contains(err.Error(), "strict") {
		t.Errorf("a decimal mode: %v, want the strict mode's error", err)
	}
	if _, err := ignition.Translate(strings.Replace(warned, "mode: 644", "mode: 0644", 1)); err != nil {
		t.Errorf("an octal mode: %v", err)
	}
}

func TestRejects(t *testing.T) {
	good := cloudconfig.Settings{Flavor: cloudconfig.Flatcar, WorkerProxy: cloudconfig.Gateway, EtcdVersion: cloudconfig.Etcd36,
		DiscoveryURL: discoveryURL, Housekeeping: cloudconfig.Housekeeping{CompactionRetention: "30m", QuotaBytes: 1 << 30}}
	etcd2 := cloudconfig.Settings{Flavor: cloudconfig.CoreOSEtcd2, WorkerProxy: cloudconfig.V2Proxy, DiscoveryURL: discoveryURL}
	cases := []struct {
		name string
		run  func() (string, error)
		want string
	}{
		{"coreos-etcd2", func() (string, error) { return ignition.Central(etcd2, addressVar, "c-0", device) }, "flavor flatcar only"},
		{"address variable", func() (string, error) { return ignition.Worker(good, "private_ipv4", endpoints) }, `address variable "private_ipv4"`},
		{"settings the cloud-config refuses", func() (string, error) { return ignition.Central(good, addressVar, "Central 0", device) }, "central node name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := c.run(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
