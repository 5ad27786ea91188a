package nodeboot

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/plan"
)

// goldenCentral are the central addresses the cloudconfig goldens name.
var goldenCentral = map[string]string{"10.21.0.10": "127.9.2.1", "10.21.16.10": "127.9.2.2", "10.21.32.10": "127.9.2.3"}

// golden reads a cloudconfig golden file with its public discovery URL made
// local, as the rehearsal makes it.
func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "components", "cloudconfig", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "https://discovery.etcd.io/", "http://127.9.1.1:2379/v2/keys/discovery/")
}

func TestInterpretGoldens(t *testing.T) {
	for _, tc := range []struct {
		file   string
		flavor cloudconfig.Flavor
		role   plan.Role
		kind   Kind
		// release is the etcd release the node runs; "" for etcd2.
		release string
		want    []string // in Args or Env
	}{
		{"flatcar-etcd3.5-gateway-central.yaml", cloudconfig.Flatcar, plan.Central, Member, "v3.5.35",
			[]string{"ETCD_LISTEN_CLIENT_URLS=http://127.9.2.1:2379", "ETCD_NAME=etcd-dev-central-0", "ETCD_ENABLE_V2=true"}},
		{"flatcar-etcd3.5-gateway-worker.yaml", cloudconfig.Flatcar, plan.Worker, Gateway, "v3.5.35",
			[]string{"--listen-addr=127.9.3.1:2379", "--endpoints=127.9.2.1:2379,127.9.2.2:2379,127.9.2.3:2379", "--retry-delay=5s"}},
		{"flatcar-etcd3.5-v2-proxy-worker.yaml", cloudconfig.Flatcar, plan.Worker, V2Proxy, "v3.5.35",
			[]string{"ETCD_PROXY=on", "ETCD_LISTEN_CLIENT_URLS=http://127.9.3.1:2379"}},
		{"flatcar-etcd3.6-gateway-central.yaml", cloudconfig.Flatcar, plan.Central, Member, "v3.6.16",
			[]string{"ETCD_LISTEN_CLIENT_URLS=http://127.9.2.1:2379", "ETCD_NAME=etcd-dev-central-0"}},
		{"flatcar-etcd3.7-static-gateway-central.yaml", cloudconfig.Flatcar, plan.Central, Member, "v3.7.3",
			[]string{"ETCD_INITIAL_CLUSTER=etcd-dev-central-0=http://127.9.2.1:2380,etcd-dev-central-1=http://127.9.2.2:2380,etcd-dev-central-2=http://127.9.2.3:2380",
				"ETCD_INITIAL_ADVERTISE_PEER_URLS=http://127.9.2.1:2380", "ETCD_ADVERTISE_CLIENT_URLS=http://127.9.2.1:2379", "ETCD_INITIAL_CLUSTER_TOKEN=etcd-dev"}},
		{"flatcar-etcd3.6-gateway-worker.yaml", cloudconfig.Flatcar, plan.Worker, Gateway, "v3.6.16",
			[]string{"--listen-addr=127.9.3.1:2379", "--endpoints=127.9.2.1:2379,127.9.2.2:2379,127.9.2.3:2379", "--retry-delay=5s"}},
		{"coreos-etcd2-v2-proxy-central.yaml", cloudconfig.CoreOSEtcd2, plan.Central, Member, "",
			[]string{"ETCD_LISTEN_PEER_URLS=http://127.9.2.1:2380", "ETCD_ENABLE_V2=true"}},
		{"coreos-etcd2-v2-proxy-worker.yaml", cloudconfig.CoreOSEtcd2, plan.Worker, V2Proxy, "",
			[]string{"ETCD_PROXY=on", "ETCD_ADVERTISE_CLIENT_URLS=http://127.9.3.1:2379"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			addr := map[plan.Role]string{plan.Central: "127.9.2.1", plan.Worker: "127.9.3.1"}[tc.role]
			p, err := Interpret(tc.flavor, plan.Node{Name: "n", Role: tc.role, UserData: golden(t, tc.file)}, addr, goldenCentral)
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != tc.kind || p.Release != tc.release {
				t.Errorf("kind %s release %q, want %s %q", p.Kind, p.Release, tc.kind, tc.release)
			}
			all := strings.Join(append(p.Args, p.Env...), " ")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("missing %q in %s", w, all)
				}
			}
			if strings.Contains(all, "ETCD_IMAGE") || strings.Contains(all, "127.0.0.1") {
				t.Errorf("ETCD_IMAGE or 127.0.0.1 left in %s", all)
			}
		})
	}
}

// TestInterpretRejects shows that what the rehearsal cannot interpret is an
// error naming the line, never a silent skip.
func TestInterpretRejects(t *testing.T) {
	for _, tc := range []struct {
		name, file, old, new, want string
	}{
		{"unknown unit", "flatcar-etcd3.5-gateway-worker.yaml", "  units:\n", "  units:\n    - name: locksmithd.service\n      command: stop\n", "unit locksmithd.service"},
		{"unknown docker flag", "flatcar-etcd3.5-gateway-worker.yaml", "--network=host", "--network=host --privileged", `docker flag "--privileged"`},
		{"unknown image", "flatcar-etcd3.5-gateway-worker.yaml", "quay.io/coreos/etcd:v3.5.35", "quay.io/coreos/etcd:v3.4.0", `image "quay.io/coreos/etcd:v3.4.0" is not one the program pins`},
		{"unknown gateway flag", "flatcar-etcd3.5-gateway-worker.yaml", "--listen-addr", "--discovery-srv=example.com --listen-addr", `gateway flag "--discovery-srv=example.com"`},
		{"endpoint not central", "flatcar-etcd3.5-gateway-worker.yaml", "10.21.32.10:2379", "10.9.9.9:2379", `endpoint "10.9.9.9:2379"`},
		{"unknown drop-in line", "flatcar-etcd3.5-v2-proxy-worker.yaml", "[Service]", "[Service]\n            User=root", `line "User=root"`},
		{"unknown member image", "flatcar-etcd3.5-v2-proxy-worker.yaml", "ETCD_IMAGE=quay.io/coreos/etcd:v3.5.35", "ETCD_IMAGE=example/etcd", `ETCD_IMAGE: image "example/etcd"`},
		{"public discovery", "flatcar-etcd3.5-v2-proxy-worker.yaml", "http://127.9.1.1:2379/v2/keys/discovery/", "https://discovery.etcd.io/", "not a local discovery URL"},
		{"initial cluster member elsewhere", "flatcar-etcd3.7-static-gateway-central.yaml", "http://10.21.32.10:2380", "http://10.9.9.9:2380", "member etcd-dev-central-2: host 10.9.9.9 is not this node"},
		{"listening on every address", "coreos-etcd2-v2-proxy-worker.yaml", "listen-client-urls: http://127.0.0.1:2379", "listen-client-urls: http://0.0.0.0:2379", "host 0.0.0.0 is not this node"},
		{"unknown section", "coreos-etcd2-v2-proxy-worker.yaml", "coreos:", "hostname: x\ncoreos:", "hostname: the rehearsal cannot interpret"},
		{"timer never started", "flatcar-etcd3.6-static-grpc-proxy-backup-central.yaml", "    - name: etcd-backup.timer\n      command: start\n", "    - name: etcd-backup.timer\n", "a timer that is not enabled and started never fires"},
		{"unknown timer key", "flatcar-etcd3.6-static-grpc-proxy-backup-central.yaml", "Persistent=true", "OnBootSec=5m", `line "OnBootSec=5m"`},
		{"script nothing starts", "flatcar-etcd3.6-static-grpc-proxy-backup-central.yaml", "OnCalendar=hourly\n", "", "neither etcd's start nor a timer starts it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := golden(t, tc.file)
			if !strings.Contains(text, tc.old) {
				t.Fatalf("%s has no %q", tc.file, tc.old)
			}
			flavor := cloudconfig.Flatcar
			if strings.HasPrefix(tc.file, "coreos") {
				flavor = cloudconfig.CoreOSEtcd2
			}
			node := plan.Node{Name: "etcd-dev-worker-0", Role: plan.Worker, UserData: strings.Replace(text, tc.old, tc.new, 1)}
			addr := "127.9.3.1"
			if strings.Contains(tc.file, "-central") {
				node.Name, node.Role, addr = "etcd-dev-central-0", plan.Central, "127.9.2.1"
			}
			_, err := Interpret(flavor, node, addr, goldenCentral)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), node.Name) {
				t.Errorf("err = %v, want one naming the node and %q", err, tc.want)
			}
		})
	}
}

// labCentral are the goldens' central addresses as a lab keeps them.
var labCentral = map[string]string{"10.21.0.10": "10.21.0.10", "10.21.16.10": "10.21.16.10", "10.21.32.10": "10.21.32.10"}

// TestInterpretTLS: files etcd is told to read come from write_files,
// through the mounts of the container that reads them.
func TestInterpretTLS(t *testing.T) {
	member, err := Interpret(cloudconfig.Flatcar, plan.Node{Name: "c0", Role: plan.Central,
		UserData: golden(t, "flatcar-etcd3.6-static-grpc-proxy-central.yaml")}, "10.21.0.10", labCentral)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ETCD_CERT_FILE=root/etc/ssl/etcd/member.crt", "ETCD_PEER_KEY_FILE=root/etc/ssl/etcd/member.key",
		"ETCD_TRUSTED_CA_FILE=root/etc/ssl/etcd/ca.crt", "ETCD_LISTEN_CLIENT_URLS=https://10.21.0.10:2379", "ETCD_CLIENT_CERT_AUTH=true"} {
		if !strings.Contains(strings.Join(member.Env, "\n"), want) {
			t.Errorf("member env lacks %s:\n%s", want, strings.Join(member.Env, "\n"))
		}
	}
	// The three TLS files, and the defragmentation, join, promotion and
	// leave scripts.
	if member.Getenv("ETCD_SSL_DIR") != "" || len(member.Files) != 7 {
		t.Errorf("member: ETCD_SSL_DIR %q (the wrapper's, not etcd's), %d files, want 7", member.Getenv("ETCD_SSL_DIR"), len(member.Files))
	}
	worker, err := Interpret(cloudconfig.Flatcar, plan.Node{Name: "w0", Role: plan.Worker,
		UserData: golden(t, "flatcar-etcd3.6-static-grpc-proxy-worker.yaml")}, "127.9.3.1", labCentral)
	if err != nil {
		t.Fatal(err)
	}
	want := "grpc-proxy start --listen-addr=127.9.3.1:2379 --advertise-client-url=127.9.3.1:2379 --metrics-addr=http://127.9.3.1:2381 --endpoints=10.21.0.10:2379,10.21.16.10:2379,10.21.32.10:2379 --cacert=root/etc/ssl/etcd/ca.crt --cert=root/etc/ssl/etcd/client.crt --key=root/etc/ssl/etcd/client.key"
	if got := strings.Join(worker.Args, " "); worker.Kind != GRPCProxy || got != want {
		t.Errorf("worker %s: %s\nwant %s", worker.Kind, got, want)
	}

	for name, edit := range map[string]struct{ old, new, want string }{
		"a key the etcd user cannot read":   {"owner: etcd:etcd", "owner: root", "etcd-member.service runs as etcd and cannot read it"},
		"a path the wrapper does not mount": {"ETCD_KEY_FILE=/etc/ssl/certs/member.key", "ETCD_KEY_FILE=/etc/ssl/etcd/member.key", "outside every directory the container mounts"},
		"a file nothing writes":             {"ETCD_CERT_FILE=/etc/ssl/certs/member.crt", "ETCD_CERT_FILE=/etc/ssl/certs/other.crt", "no write_files puts it there"},
		"the OS's wrapper":                  {"      content: |\n        [Unit]\n        Description=etcd from the pinned image", "      x: |\n        [Unit]\n        Description=etcd from the pinned image", "drop-ins for the OS's etcd wrapper"},
	} {
		text := golden(t, "flatcar-etcd3.6-static-grpc-proxy-central.yaml")
		if !strings.Contains(text, edit.old) {
			t.Fatalf("%s: golden lacks %q", name, edit.old)
		}
		_, err := Interpret(cloudconfig.Flatcar, plan.Node{Name: "c0", Role: plan.Central, UserData: strings.Replace(text, edit.old, edit.new, 1)}, "10.21.0.10", labCentral)
		if err == nil || !strings.Contains(err.Error(), edit.want) {
			t.Errorf("%s: %v, want %q", name, err, edit.want)
		}
	}
	text := strings.Replace(golden(t, "flatcar-etcd3.6-static-grpc-proxy-worker.yaml"), " --advertise-client-url=127.0.0.1:2379", "", 1)
	if _, err := Interpret(cloudconfig.Flatcar, plan.Node{Name: "w0", Role: plan.Worker, UserData: text}, "127.9.3.1", labCentral); err == nil || !strings.Contains(err.Error(), "advertises") {
		t.Errorf("grpc-proxy without --advertise-client-url: %v", err)
	}
}

// TestInterpretScripts: a central node's backup unit is found with the
// timer that starts it, its restore unit as running before etcd, and both
// scripts with the settings file they read go to the node's disk.
func TestInterpretScripts(t *testing.T) {
	// A blank member's join runs before etcd, its promotion after.
	join := Script{Unit: "etcd-join.service", Path: cloudconfig.Join.Script, BeforeEtcd: true}
	promote := Script{Unit: "etcd-promote.service", Path: cloudconfig.Join.Promote, AfterEtcd: true}
	// Its leaving, before its machine goes, the operator starts.
	leave := Script{Unit: cloudconfig.Leave.Unit, Path: cloudconfig.Leave.Script, ByOperator: true}
	for _, tc := range []struct {
		file string
		want []Script
	}{
		{"flatcar-etcd3.6-static-grpc-proxy-backup-central.yaml", []Script{{Unit: "etcd-backup.service", Path: "/opt/bin/etcd-backup", Schedule: "hourly"},
			{Unit: "etcd-defrag.service", Path: "/opt/bin/etcd-defrag", Schedule: "daily"}, join, promote, leave}},
		{"flatcar-etcd3.6-static-grpc-proxy-restore-central.yaml", []Script{
			{Unit: "etcd-backup.service", Path: "/opt/bin/etcd-backup", Schedule: "hourly"},
			{Unit: "etcd-defrag.service", Path: "/opt/bin/etcd-defrag", Schedule: "daily"},
			{Unit: "etcd-restore.service", Path: "/opt/bin/etcd-restore", BeforeEtcd: true}, join, promote, leave}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			p, err := Interpret(cloudconfig.Flatcar, plan.Node{Name: "etcd-dev-central-0", Role: plan.Central, Host: "10.21.0.10", UserData: golden(t, tc.file)}, "127.9.2.1", goldenCentral)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Scripts, tc.want) {
				t.Errorf("scripts %+v, want %+v", p.Scripts, tc.want)
			}
			for _, path := range []string{"/opt/bin/etcd-backup", "/etc/etcd-backup.env", "/opt/bin/etcd-defrag"} {
				if !slices.ContainsFunc(p.Files, func(f File) bool { return f.Path == path }) {
					t.Errorf("%s is not put on the node's disk", path)
				}
			}
		})
	}
}

// TestInterpretFirewall: every rendering installs the metadata firewall,
// with the rules its flavor's OS can load, and the container runtimes, etcd
// and the node's scripts all wait for it.
func TestInterpretFirewall(t *testing.T) {
	goldens, err := filepath.Glob(filepath.Join("..", "..", "components", "cloudconfig", "testdata", "*.yaml"))
	if err != nil || len(goldens) == 0 {
		t.Fatalf("goldens: %v", err)
	}
	for _, path := range goldens {
		file := filepath.Base(path)
		t.Run(file, func(t *testing.T) {
			p, err := interpretGolden(t, file, golden(t, file))
			if err != nil {
				t.Fatal(err)
			}
			fw := p.Firewall
			if fw.Unit != cloudconfig.MetadataFirewallUnit || len(fw.Commands) == 0 {
				t.Fatalf("firewall %+v", fw)
			}
			all := ""
			for _, cmd := range fw.Commands {
				all += strings.Join(cmd, " ") + "\n"
			}
			for _, f := range fw.Files {
				all += f.Content
			}
			for _, a := range cloudconfig.MetadataAddrs {
				if !strings.Contains(all, a) {
					t.Errorf("the firewall does not name %s:\n%s", a, all)
				}
			}
			if strings.HasPrefix(file, "flatcar") {
				want := []string{"/sbin/nft", "-f", cloudconfig.MetadataFirewallRules}
				if len(fw.Commands) != 1 || !slices.Equal(fw.Commands[0], want) || len(fw.Files) != 1 || fw.Files[0].Path != cloudconfig.MetadataFirewallRules {
					t.Errorf("flatcar firewall: %q, files %v; want %q loading its own file", fw.Commands, len(fw.Files), want)
				}
			} else if len(fw.Files) != 0 || fw.Commands[0][0] != "/sbin/iptables" {
				t.Errorf("coreos-etcd2 firewall: %q, %d files; want iptables commands", fw.Commands, len(fw.Files))
			}
		})
	}
}

// interpretGolden interprets a golden as the node it was rendered for.
func interpretGolden(t *testing.T, file, text string) (Process, error) {
	t.Helper()
	flavor := cloudconfig.Flatcar
	if strings.HasPrefix(file, "coreos") {
		flavor = cloudconfig.CoreOSEtcd2
	}
	node := plan.Node{Name: "etcd-dev-worker-0", Role: plan.Worker, UserData: text}
	addr := "127.9.3.1"
	if strings.Contains(file, "-central") {
		node.Name, node.Role, node.Host, addr = "etcd-dev-central-0", plan.Central, "10.21.0.10", "127.9.2.1"
	}
	return Interpret(flavor, node, addr, goldenCentral)
}

// TestInterpretFirewallRejects: user data that would let a container start
// before the metadata firewall is in place, or without it, is refused,
// naming the unit.
func TestInterpretFirewallRejects(t *testing.T) {
	const (
		backup   = "flatcar-etcd3.6-static-grpc-proxy-restore-central.yaml"
		proxy    = "flatcar-etcd3.6-static-grpc-proxy-worker.yaml"
		v2proxy  = "flatcar-etcd3.5-v2-proxy-worker.yaml"
		etcd2    = "coreos-etcd2-v2-proxy-central.yaml"
		dropIn   = "        - name: 10-metadata-firewall.conf\n          content: |\n            [Unit]\n            Requires=metadata-firewall.service\n            After=metadata-firewall.service\n"
		inUnit   = "        Requires=metadata-firewall.service\n        After=metadata-firewall.service\n"
		fwHeader = "    - name: metadata-firewall.service\n      command: start\n      enable: true\n"
	)
	// without cuts the n-th (from 1) occurrence of s out of text.
	without := func(s string, n int) func(string) string {
		return func(text string) string {
			i := -1
			for range n {
				j := strings.Index(text[i+1:], s)
				if j < 0 {
					return text
				}
				i += 1 + j
			}
			return text[:i] + text[i+len(s):]
		}
	}
	replace := func(old, new string) func(string) string {
		return func(text string) string { return strings.Replace(text, old, new, 1) }
	}
	// unitBlock cuts a whole unit entry, from its name line to the next.
	unitBlock := func(name string) func(string) string {
		return func(text string) string {
			i := strings.Index(text, "    - name: "+name+"\n")
			if i < 0 {
				return text
			}
			j := strings.Index(text[i+1:], "\n    - name: ")
			return text[:i] + text[i+1+j+1:]
		}
	}
	for _, tc := range []struct {
		name, file string
		edit       func(string) string
		want       string
	}{
		{"no firewall unit", proxy, unitBlock("metadata-firewall.service"), "no unit metadata-firewall.service"},
		{"firewall not started", proxy, replace(fwHeader, "    - name: metadata-firewall.service\n      enable: true\n"), "enabled (every boot) and started"},
		{"firewall not enabled", proxy, replace(fwHeader, "    - name: metadata-firewall.service\n      command: start\n"), "enabled (every boot) and started"},
		{"firewall not a oneshot", proxy, replace("Type=oneshot\n        RemainAfterExit=yes\n        ExecStart=/sbin/nft", "Type=simple\n        RemainAfterExit=yes\n        ExecStart=/sbin/nft"), "must be a oneshot that stays active"},
		{"firewall does not stay active", proxy, replace("        RemainAfterExit=yes\n        ExecStart=/sbin/nft", "        ExecStart=/sbin/nft"), "must be a oneshot that stays active"},
		{"firewall wanted by nothing", proxy, replace("        WantedBy=multi-user.target\n    - name: docker.service", "    - name: docker.service"), "wanted by multi-user.target"},
		{"firewall loads nothing", proxy, replace("        ExecStart=/sbin/nft -f /etc/metadata-firewall.nft\n", ""), "no ExecStart"},
		{"rules file not written", proxy, replace("  - path: /etc/metadata-firewall.nft\n", "  - path: /etc/other.nft\n"), "which write_files does not write"},
		{"flatcar firewall of iptables", proxy, replace("ExecStart=/sbin/nft -f /etc/metadata-firewall.nft", "ExecStart=/sbin/iptables -A OUTPUT -j ACCEPT"), "firewall runs [/sbin/nft]"},
		{"etcd2 firewall of nft", etcd2, replace("ExecStart=/sbin/iptables -w -t filter", "ExecStart=/sbin/nft -w -t filter"), "firewall runs [/sbin/iptables /sbin/ip6tables]"},
		{"docker does not wait", proxy, unitBlock("docker.service"), "unit docker.service: no drop-in"},
		{"docker requires but does not follow", proxy, without("            After=metadata-firewall.service\n", 1), "unit docker.service: the rehearsal interprets only"},
		{"containerd does not wait", proxy, without(dropIn, 2), "unit containerd.service: the rehearsal interprets only"},
		{"proxy does not wait", proxy, without(inUnit, 1), "unit etcd-grpc-proxy.service: does not require metadata-firewall.service"},
		{"proxy only ordered", proxy, replace("Requires=docker.service\n        Requires=metadata-firewall.service\n", "Requires=docker.service\n"), "unit etcd-grpc-proxy.service: does not require"},
		{"member does not wait", backup, without(dropIn, 3), "unit etcd-member.service: does not require"},
		{"backup does not wait", backup, without(inUnit, 1), "unit etcd-backup.service: does not require"},
		{"defrag does not wait", backup, without(inUnit, 2), "unit etcd-defrag.service: does not require"},
		{"restore does not wait", backup, without(inUnit, 3), "unit etcd-restore.service: does not require"},
		{"join does not wait", backup, without(inUnit, 4), "unit etcd-join.service: does not require"},
		{"promotion does not wait", backup, without(inUnit, 5), "unit etcd-promote.service: does not require"},
		{"v2 proxy does not wait", v2proxy, without(dropIn, 3), "unit etcd-member.service: does not require"},
		{"etcd2 does not wait", etcd2, without(dropIn, 3), "unit etcd2.service: does not require"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := golden(t, tc.file)
			broken := tc.edit(text)
			if broken == text {
				t.Fatalf("the edit changes nothing in %s", tc.file)
			}
			_, err := interpretGolden(t, tc.file, broken)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
