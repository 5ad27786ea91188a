package nodeboot

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/plan"
)

// ignitionGolden reads a components/ignition golden, its discovery URL
// made local as golden does.
func ignitionGolden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "components", "ignition", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "https://discovery.etcd.io/", "http://127.9.1.1:2379/v2/keys/discovery/")
}

// TestInterpretIgnitionAsCloudConfig: every Ignition golden boots the node
// its cloud-config golden of the same settings boots: the same etcd
// process, files, scripts and firewall, read through Ignition's parser.
func TestInterpretIgnitionAsCloudConfig(t *testing.T) {
	names, err := filepath.Glob(filepath.Join("..", "..", "components", "ignition", "testdata", "*.ign"))
	if err != nil || len(names) < 20 {
		t.Fatalf("%d Ignition goldens (%v)", len(names), err)
	}
	for _, path := range names {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			cc := strings.TrimSuffix(name, ".ign") + ".yaml"
			fromCC, err := interpretGolden(t, cc, golden(t, cc))
			if err != nil {
				t.Fatalf("%s: %v", cc, err)
			}
			fromIgn, err := interpretGolden(t, name, ignitionGolden(t, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []*Process{&fromCC, &fromIgn} {
				slices.SortFunc(p.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
			}
			if !reflect.DeepEqual(fromIgn, fromCC) {
				t.Errorf("boots\n%+v\nwhere the cloud-config boots\n%+v", fromIgn, fromCC)
			}
		})
	}
}

// TestInterpretIgnitionRejects: what the reader cannot interpret in an
// Ignition config is an error naming it, never a silent skip.
func TestInterpretIgnitionRejects(t *testing.T) {
	central := ignitionGolden(t, "flatcar-etcd3.6-static-grpc-proxy-central.ign")
	worker := ignitionGolden(t, "flatcar-etcd3.6-static-grpc-proxy-worker.ign")
	for _, tc := range []struct {
		name, text, from, to, want string
	}{
		{"not JSON", central, `{`, `[`, "neither a #cloud-config nor an Ignition config"},
		{"invalid", central, `"version": "3.4.0"`, `"version": "9.9.9"`, "ignition:"},
		{"a filesystem", central, `"storage": {`, `"storage": {"filesystems": [{"device": "/dev/xvdf", "format": "ext4", "path": "/var/lib/etcd"}],`, "storage: disks, raid, luks, filesystems or directories"},
		{"another user", central, `"name": "core"`, `"name": "ops"`, "passwd.users ops"},
		{"member's command", central, `--user=232:232`, `--user=0:0`, "the wrapper's docker run"},
		{"member's mounts", central, `--volume=/run:/run`, `--volume=/:/host`, "the wrapper's docker run"},
		{"an unknown variable", worker, `${COREOS_EC2_IPV4_LOCAL}`, `${COREOS_EC2_IPV4_PUBLIC}`, "quoting and variables"},
		{"a unit line", central, `RestartSec=10s`, `User=etcd`, `line "User=etcd"`},
		{"an unknown link", central, `"links": [`, `"links": [{"path": "/etc/systemd/system/multi-user.target.wants/x.service", "target": "/etc/systemd/system/x.service"},`, "link /etc/systemd/system/multi-user.target.wants/x.service"},
		{"a data directory not etcd's", central, `install -d -o 232 -g 232`, `install -d -o 0 -g 0`, "the data directory the etcd user's"},
		{"a data directory left as docker makes it", central, `ExecStartPre=/usr/bin/install -d -o 232 -g 232 -m 0700 ${ETCD_DATA_DIR}\n`, ``, "no ExecStartPre makes the data directory the etcd user's"},
		{"a setting twice", central, `--env=ETCD_LISTEN_PEER_URLS=`, `--env=ETCD_NAME=x --env=ETCD_LISTEN_PEER_URLS=`, "ETCD_NAME both on docker's command line and in drop-in 20-isolated-etcd.conf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.text, tc.from) {
				t.Fatalf("%q is not in the golden", tc.from)
			}
			file := "x-worker.ign"
			if tc.text == central {
				file = "x-central.ign"
			}
			_, err := interpretGolden(t, file, strings.Replace(tc.text, tc.from, tc.to, 1))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Only flatcar runs Ignition.
	if _, err := Interpret(cloudconfig.CoreOSEtcd2, plan.Node{Name: "n", Role: plan.Worker, UserData: worker}, "127.9.3.1", goldenCentral); err == nil || !strings.Contains(err.Error(), "flavor coreos-etcd2") {
		t.Errorf("an Ignition config on coreos-etcd2: %v", err)
	}
}
