package components_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
)

// TestInvalidConfigRegistersNothing: every bad value fails with a message that
// names the key, the value and what is allowed, before any resource exists.
func TestInvalidConfigRegistersNothing(t *testing.T) {
	cases := []struct {
		name   string
		change func(*components.ClusterArgs)
		want   []string
	}{
		{"even central count", func(a *components.ClusterArgs) { a.CentralCount = 4 }, []string{"centralCount: 4", "1, 3, 5 or 7"}},
		{"zero central count", func(a *components.ClusterArgs) { a.CentralCount = 0 }, []string{"centralCount: 0", "1, 3, 5 or 7"}},
		{"central count above 7", func(a *components.ClusterArgs) { a.CentralCount = 9 }, []string{"centralCount: 9", "1, 3, 5 or 7"}},
		{"huge central count", func(a *components.ClusterArgs) { a.CentralCount = 1 << 40 }, []string{"centralCount: 1099511627776"}},
		{"negative worker count", func(a *components.ClusterArgs) { a.WorkerCount = -1 }, []string{"workerCount: -1", "0 or more"}},
		{"unknown cloud", func(a *components.ClusterArgs) { a.Cloud = "gcp" }, []string{`cloud: "gcp"`, "aws or digitalocean"}},
		{"unknown flavor", func(a *components.ClusterArgs) { a.Flavor = "ubuntu" }, []string{`flavor: "ubuntu"`, "flatcar", "coreos-etcd2"}},
		{"unknown worker proxy", func(a *components.ClusterArgs) { a.WorkerProxy = "grpc" }, []string{`workerProxy: "grpc"`, "gateway", "v2-proxy"}},
		{"unknown etcd line", func(a *components.ClusterArgs) { a.EtcdVersion = "3.4" }, []string{`etcdVersion: "3.4"`, "3.5, 3.6 (default) or 3.7"}},
		{"unknown config format", func(a *components.ClusterArgs) { a.ConfigFormat = "butane" }, []string{`configFormat: "butane"`, "cloud-config (default) or ignition"}},
		{"ignition on coreos-etcd2", func(a *components.ClusterArgs) {
			a.Flavor, a.Image, a.ConfigFormat = "coreos-etcd2", pulumi.String("ami-0123456789abcdef0"), "ignition"
		}, []string{`configFormat: "ignition" is rendered for flavor flatcar only`}},
		{"etcd 3.7 with a discovery URL", func(a *components.ClusterArgs) { a.EtcdVersion, a.Bootstrap = "3.7", "discovery" }, []string{`bootstrap: "discovery" is not available with etcd 3.7`, "want static"}},
		{"v2 proxy on etcd 3.6", func(a *components.ClusterArgs) { a.EtcdVersion, a.WorkerProxy = "3.6", "v2-proxy" }, []string{`workerProxy: "v2-proxy" needs etcdVersion 3.5`, "want gateway"}},
		{"etcd line on coreos-etcd2", func(a *components.ClusterArgs) {
			a.Flavor, a.Image, a.EtcdVersion = "coreos-etcd2", pulumi.String("ami-0123456789abcdef0"), "3.6"
		}, []string{`etcdVersion: "3.6" does not apply to flavor coreos-etcd2`}},
		{"malformed discovery URL", func(a *components.ClusterArgs) { a.DiscoveryURL = "discovery.etcd.io/abc" }, []string{`discoveryUrl: "discovery.etcd.io/abc"`, "https://discovery.etcd.io/<token>"}},
		{"Deis placeholder discovery URL", func(a *components.ClusterArgs) { a.DiscoveryURL = "#DISCOVERY_URL" }, []string{`discoveryUrl: "#DISCOVERY_URL"`}},
		{"discovery URL without token", func(a *components.ClusterArgs) { a.DiscoveryURL = "https://discovery.etcd.io/" }, []string{`discoveryUrl: "https://discovery.etcd.io/"`}},
		{"missing discovery URL", func(a *components.ClusterArgs) { a.DiscoveryURL, a.Bootstrap = "", "discovery" }, []string{"discoveryUrl: required", "cmd/discovery-url"}},
		{"unknown bootstrap", func(a *components.ClusterArgs) { a.Bootstrap = "dns-srv" }, []string{`bootstrap: "dns-srv"`, "static or discovery"}},
		{"static with a discovery URL", func(a *components.ClusterArgs) { a.Bootstrap = "static" }, []string{"discoveryUrl: set, but bootstrap is static"}},
		{"static on DigitalOcean without a zone", func(a *components.ClusterArgs) {
			a.Cloud, a.Region, a.DiscoveryURL, a.Bootstrap = "digitalocean", "nyc3", "", "static"
		}, []string{`bootstrap: "static" on digitalocean needs dnsZone`}},
		{"DNS zone on AWS", func(a *components.ClusterArgs) { a.DNSZone = "example.com" }, []string{`dnsZone: "example.com" is not used on AWS`}},
		{"malformed DNS zone", func(a *components.ClusterArgs) {
			a.Cloud, a.Region, a.DNSZone = "digitalocean", "nyc3", "example"
		}, []string{`dnsZone: "example" is not a domain name`}},
		{"static with v2-proxy workers", func(a *components.ClusterArgs) {
			a.DiscoveryURL, a.Bootstrap, a.WorkerProxy, a.EtcdVersion, a.TLS = "", "static", "v2-proxy", "3.5", ptr(false)
		}, []string{`bootstrap: "static" leaves v2-proxy workers nothing`}},
		{"static on coreos-etcd2", func(a *components.ClusterArgs) {
			a.Flavor, a.Image, a.DiscoveryURL, a.Bootstrap = "coreos-etcd2", pulumi.String("ami-0123456789abcdef0"), "", "static"
		}, []string{`bootstrap: "static" is not available with flavor coreos-etcd2`}},
		{"retention not a duration", func(a *components.ClusterArgs) { a.CompactionRetention = "1" }, []string{`compactionRetention: "1" is not allowed`, "from 1s to 24h0m0s"}},
		{"retention over a day", func(a *components.ClusterArgs) { a.CompactionRetention = "48h" }, []string{`compactionRetention: "48h" is not allowed`}},
		{"quota over the volume", func(a *components.ClusterArgs) { a.QuotaBackendMiB = 8192 }, []string{"quotaBackendMiB: 8192 is not allowed", "16 to 4608 MiB", "data volume"}},
		{"tiny quota", func(a *components.ClusterArgs) { a.QuotaBackendMiB = 1 }, []string{"quotaBackendMiB: 1 is not allowed"}},
		{"quota on coreos-etcd2", func(a *components.ClusterArgs) {
			a.Flavor, a.Image, a.QuotaBackendMiB = "coreos-etcd2", pulumi.String("ami-0123456789abcdef0"), 1024
		}, []string{"quotaBackendMiB: 1024 does not apply to flavor coreos-etcd2"}},
		{"malformed monitoring CIDR", func(a *components.ClusterArgs) { a.MonitoringCidrs = []string{"10.30.0.1/24"} }, []string{`monitoringCidrs[0]: "10.30.0.1/24"`, "CIDR"}},
		{"security group name on AWS", func(a *components.ClusterArgs) { a.MonitoringGroups = []string{"sg-0123456789abcdef0", "prometheus"} }, []string{`monitoringGroups[1]: "prometheus" is not a security group id`, "sg-0123456789abcdef0"}},
		{"security group id on DigitalOcean", func(a *components.ClusterArgs) {
			a.Cloud, a.Region, a.DNSZone, a.MonitoringGroups = "digitalocean", "nyc3", "etcd.example.com", []string{"sg-0123/4"}
		}, []string{`monitoringGroups[0]: "sg-0123/4" is not a DigitalOcean tag`, "colons, dashes and underscores"}},
		{"malformed SSH CIDR", func(a *components.ClusterArgs) { a.SSHAllowedCidrs = []string{"10.0.0.0/8", "1.2.3.4"} }, []string{`sshAllowedCidrs[1]: "1.2.3.4"`, "CIDR"}},
		{"SSH CIDR with host bits", func(a *components.ClusterArgs) { a.SSHAllowedCidrs = []string{"203.0.113.7/24"} }, []string{`sshAllowedCidrs[0]: "203.0.113.7/24"`}},
		{"malformed VPC CIDR", func(a *components.ClusterArgs) { a.VpcCidr = "10.21.0.0/33" }, []string{`vpcCidr: "10.21.0.0/33"`, "/16 to /24"}},
		{"public VPC CIDR", func(a *components.ClusterArgs) { a.VpcCidr = "8.8.0.0/16" }, []string{`vpcCidr: "8.8.0.0/16"`, "private"}},
		{"malformed SSH key", func(a *components.ClusterArgs) {
			a.SSHAuthorizedKeys = pulumi.ToStringArray([]string{"ssh-rsa not-base64!"})
		}, []string{`sshAuthorizedKeys[0]: "ssh-rsa not-base64!"`, "OpenSSH public key"}},
		{"two SSH keys on one line", func(a *components.ClusterArgs) {
			a.SSHAuthorizedKeys = pulumi.ToStringArray([]string{sshKey + "\n" + sshKey})
		}, []string{"sshAuthorizedKeys[0]"}},
		{"coreos-etcd2 without image", func(a *components.ClusterArgs) { a.Flavor = "coreos-etcd2" }, []string{"image: required with flavor coreos-etcd2"}},
		{"coreos-etcd2 with an empty image", func(a *components.ClusterArgs) { a.Flavor, a.Image = "coreos-etcd2", pulumi.String("") }, []string{"image: required with flavor coreos-etcd2"}},
		{"coreos-etcd2 with gateway", func(a *components.ClusterArgs) {
			a.Flavor, a.Image, a.WorkerProxy = "coreos-etcd2", pulumi.String("ami-0123456789abcdef0"), "gateway"
		}, []string{`workerProxy: "gateway"`, "coreos-etcd2", "v2-proxy"}},
		{"not an AMI", func(a *components.ClusterArgs) { a.Image = pulumi.String("flatcar-stable") }, []string{`image: "flatcar-stable" is not an AMI id`}},
		{"AWS region on DigitalOcean", func(a *components.ClusterArgs) { a.Cloud, a.Region = "digitalocean", "us-east-2" }, []string{`region: "us-east-2" is not a DigitalOcean region`}},
		{"missing region on DigitalOcean", func(a *components.ClusterArgs) { a.Cloud, a.Region = "digitalocean", "" }, []string{"region: required on DigitalOcean"}},
		{"not an AWS region", func(a *components.ClusterArgs) { a.Region = "nyc3" }, []string{`region: "nyc3" is not an AWS region`, "aws:region"}},
		{"reserved tag", func(a *components.ClusterArgs) { a.Tags = map[string]string{"isolated-etcd:role": "x"} }, []string{`tags: key "isolated-etcd:role"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := discoveryArgs("aws")
			tc.change(&args)
			refused(t, args, tc.want...)
		})
	}
}

// refused asserts that args fail before any resource is registered, with
// one error that says each of want: one bad value, no knock-on complaints
// about keys the operator never set.
func refused(t *testing.T, args components.ClusterArgs, want ...string) {
	t.Helper()
	m, _, err := provision(t, args)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
	if n := len(m.Resources()); n != 0 {
		t.Errorf("%d resources registered before the error", n)
	}
	if _, problems, _ := strings.Cut(err.Error(), "invalid cluster settings:\n"); strings.Count(strings.TrimSpace(problems), "\n") != 0 {
		t.Errorf("one bad value gave several errors:\n%v", err)
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	for _, tc := range []struct {
		change func(*components.ClusterArgs)
		keys   []string
	}{
		{func(a *components.ClusterArgs) { a.CentralCount, a.WorkerCount, a.Flavor = 2, -3, "debian" },
			[]string{"centralCount", "workerCount", "flavor"}},
		{func(a *components.ClusterArgs) {
			a.WorkerCount, a.RollCentral, a.VpcCidr = -3, "etcd-dev-central-9", "10.0.0.0/8"
		},
			[]string{"workerCount", "rollCentral", "vpcCidr"}},
	} {
		args := discoveryArgs("aws")
		tc.change(&args)
		_, _, err := provision(t, args)
		for _, key := range tc.keys {
			if err == nil || !strings.Contains(err.Error(), key+":") {
				t.Errorf("error does not report %s: %v", key, err)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestClusterName(t *testing.T) {
	for stack, want := range map[string]string{"dev": "etcd-dev", "Prod_EU": "etcd-prod-eu", "org/proj/stg": "etcd-org-proj-stg"} {
		if got := components.ClusterName(stack); got != want {
			t.Errorf("ClusterName(%q) = %q, want %q", stack, got, want)
		}
	}
}

// TestEtcdVersionDefault: new clusters run 3.6; a stack with a discovery URL,
// which every cluster made before static bootstrap has, stays on 3.5 until
// its operator upgrades it.
func TestEtcdVersionDefault(t *testing.T) {
	for _, tc := range []struct {
		name         string
		discoveryURL string
		want         string
	}{
		{"new static cluster", "", "v3.6.16"},
		{"cluster bootstrapped from a token", "https://discovery.etcd.io/3e86b59982e49066c5d813af1c2e2579", "v3.5.35"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := discoveryArgs("aws")
			args.DiscoveryURL, args.EtcdVersion = tc.discoveryURL, ""
			_, out, err := provision(t, args)
			if err != nil {
				t.Fatal(err)
			}
			if got := out.values["etcdVersion"]; got != tc.want {
				t.Errorf("etcdVersion = %v, want %s", got, tc.want)
			}
		})
	}
}
