package components_test

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
)

const (
	discoveryURL = "https://discovery.etcd.io/3e86b59982e49066c5d813af1c2e2579"
	sshKey       = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@example.com"
)

// validArgs is a dev-sized cluster on the given cloud with the defaults a
// new cluster gets (static bootstrap, mutual TLS): on AWS in the region the
// AWS provider is configured for, as the dev stack, on DigitalOcean in nyc3
// with names in a zone.
func validArgs(cloud string) components.ClusterArgs {
	region := map[string]string{"digitalocean": "nyc3"}[cloud]
	return components.ClusterArgs{
		Cloud:             cloud,
		Region:            region,
		DNSZone:           map[string]string{"digitalocean": "etcd.example.com"}[cloud],
		CentralCount:      3,
		WorkerCount:       2,
		SSHAllowedCidrs:   []string{"203.0.113.0/24"},
		SSHAuthorizedKeys: pulumi.StringArray{pulumi.String(sshKey)},
		Tags:              map[string]string{"environment": "dev"},
	}
}

// discoveryArgs is validArgs as a cluster made before static bootstrap and
// TLS: a discovery URL, plaintext (acknowledged), no zone.
func discoveryArgs(cloud string) components.ClusterArgs {
	a := validArgs(cloud)
	a.DNSZone = ""
	a.DiscoveryURL = discoveryURL
	a.PlaintextAcknowledged = true
	// The pre-flight check has its own tests, against local discovery servers.
	a.SkipDiscoveryCheck = true
	return a
}

// outputs are the component's resolved outputs.
type outputs struct {
	values  map[string]any
	secrets map[string]bool
}

// provision runs the component under the mock engine and resolves its outputs.
func provision(t *testing.T, args components.ClusterArgs) (*pulumitest.Mocks, outputs, error) {
	t.Helper()
	return provisionOn(t, pulumitest.New(), args)
}

// provisionOn is provision with the given mocks.
func provisionOn(t *testing.T, m *pulumitest.Mocks, args components.ClusterArgs) (*pulumitest.Mocks, outputs, error) {
	t.Helper()
	return provisionWith(t, m, func(*pulumi.Context) (components.ClusterArgs, error) { return args, nil })
}

// provisionWith is provisionOn with the arguments made inside the program,
// so that they may take other resources' outputs.
func provisionWith(t *testing.T, m *pulumitest.Mocks, makeArgs func(*pulumi.Context) (components.ClusterArgs, error)) (*pulumitest.Mocks, outputs, error) {
	t.Helper()
	out := outputs{values: map[string]any{}, secrets: map[string]bool{}}
	err := m.Run(func(ctx *pulumi.Context) error {
		args, err := makeArgs(ctx)
		if err != nil {
			return err
		}
		c, err := components.NewCluster(ctx, "etcd-dev", args)
		if err != nil {
			return err
		}
		for key, o := range c.Outputs() {
			v, secret, err := pulumitest.Await(ctx, o.(pulumi.Output))
			if err != nil {
				return fmt.Errorf("output %s: %w", key, err)
			}
			out.values[key], out.secrets[key] = v, secret
		}
		return nil
	})
	return m, out, err
}

func mustProvision(t *testing.T, args components.ClusterArgs) (*pulumitest.Mocks, outputs) {
	t.Helper()
	m, out, err := provision(t, args)
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	return m, out
}

// cloudShape names each cloud's resource types for the assertions below.
var cloudShape = map[string]struct {
	central, worker, firewall string
}{
	"aws": {
		central:  "aws:ec2/instance:Instance",
		worker:   "aws:ec2/launchTemplate:LaunchTemplate",
		firewall: "aws:ec2/securityGroup:SecurityGroup",
	},
	"digitalocean": {
		central:  "digitalocean:index/droplet:Droplet",
		worker:   "digitalocean:index/droplet:Droplet",
		firewall: "digitalocean:index/firewall:Firewall",
	},
}

func str(pm resource.PropertyMap, key resource.PropertyKey) string {
	return pulumitest.String(pm[key])
}

// userData returns the user data text a machine or template carries.
func userData(t *testing.T, r pulumitest.Resource) string {
	t.Helper()
	text, err := r.UserData()
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// centrals and workers split the machines by role, by name, in node order
// (the engine registers resources concurrently).
func centrals(m *pulumitest.Mocks, cloud string) []pulumitest.Resource {
	return role(m.OfType(cloudShape[cloud].central), "-central-")
}

func workers(m *pulumitest.Mocks, cloud string) []pulumitest.Resource {
	return role(m.OfType(cloudShape[cloud].worker), "-worker")
}

func role(rs []pulumitest.Resource, marker string) []pulumitest.Resource {
	var out []pulumitest.Resource
	for _, r := range rs {
		if strings.Contains(r.Name, marker) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b pulumitest.Resource) int {
		return cmp.Or(cmp.Compare(len(a.Name), len(b.Name)), cmp.Compare(a.Name, b.Name))
	})
	return out
}

func TestResourcesPerConfig(t *testing.T) {
	cases := []struct {
		cloud            string
		central, workers int
		wantWorkerRes    int
		wantExtra        map[string]int
	}{
		{"aws", 3, 2, 1, map[string]int{"aws:autoscaling/group:Group": 1, "aws:ec2/vpc:Vpc": 1, "aws:ec2/subnet:Subnet": 3, "aws:ec2/securityGroup:SecurityGroup": 2}},
		{"aws", 5, 0, 1, map[string]int{"aws:autoscaling/group:Group": 1}},
		{"aws", 1, 40, 1, map[string]int{"aws:autoscaling/group:Group": 1}},
		{"digitalocean", 3, 2, 2, map[string]int{"digitalocean:index/vpc:Vpc": 1, "digitalocean:index/firewall:Firewall": 2, "digitalocean:index/customImage:CustomImage": 1}},
		{"digitalocean", 7, 0, 0, nil},
		{"digitalocean", 1, 12, 12, nil},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%dc%dw", tc.cloud, tc.central, tc.workers), func(t *testing.T) {
			args := validArgs(tc.cloud)
			args.CentralCount, args.WorkerCount = tc.central, tc.workers
			m, out := mustProvision(t, args)
			if text, _ := out.values["workerCloudConfig"].(string); !strings.HasPrefix(text, "#cloud-config") {
				t.Errorf("workerCloudConfig = %q, want the worker user data even with %d workers", text, tc.workers)
			}
			if got := len(centrals(m, tc.cloud)); got != tc.central {
				t.Errorf("central machines = %d, want %d", got, tc.central)
			}
			if got := len(workers(m, tc.cloud)); got != tc.wantWorkerRes {
				t.Errorf("worker resources = %d, want %d", got, tc.wantWorkerRes)
			}
			for typ, want := range tc.wantExtra {
				if got := len(m.OfType(typ)); got != want {
					t.Errorf("%s = %d, want %d", typ, got, want)
				}
			}
			var component string
			for _, r := range m.Resources() {
				if r.Type == components.ClusterType {
					component = r.Name
				} else if r.Parent == "" {
					t.Errorf("%s %s has no parent; every resource belongs to the component", r.Type, r.Name)
				}
			}
			if component != "etcd-dev" {
				t.Errorf("component registered as %q, want etcd-dev", component)
			}
		})
	}
}

func TestEveryMachineCarriesItsRolesUserData(t *testing.T) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		t.Run(cloud, func(t *testing.T) {
			m, out := mustProvision(t, validArgs(cloud))
			centralTexts := out.values["centralCloudConfig"].([]string)
			for i, r := range centrals(m, cloud) {
				got := userData(t, r)
				if got != centralTexts[i] {
					t.Errorf("%s user data differs from centralCloudConfig[%d]", r.Name, i)
				}
				if !strings.Contains(got, fmt.Sprintf("ETCD_NAME=etcd-dev-central-%d", i)) {
					t.Errorf("%s user data does not name its member:\n%s", r.Name, got)
				}
			}
			workerText := out.values["workerCloudConfig"].(string)
			if !strings.Contains(workerText, "etcd-grpc-proxy.service") {
				t.Errorf("worker user data has no grpc-proxy:\n%s", workerText)
			}
			for _, u := range out.values["etcdClientEndpoints"].([]string) {
				if !strings.Contains(workerText, strings.TrimPrefix(u, "https://")) {
					t.Errorf("worker proxy does not forward to central %s:\n%s", u, workerText)
				}
			}
			for _, r := range workers(m, cloud) {
				if got := userData(t, r); got != workerText {
					t.Errorf("%s user data differs from workerCloudConfig:\n%s", r.Name, got)
				}
			}
		})
	}
}

// TestCentralUnchangedByWorkerSettings guards the heart of the design: worker
// changes never touch a voting member.
func TestCentralUnchangedByWorkerSettings(t *testing.T) {
	changes := map[string]func(*components.ClusterArgs){
		"workerCount":      func(a *components.ClusterArgs) { a.WorkerCount = 50 },
		"workerCount to 0": func(a *components.ClusterArgs) { a.WorkerCount = 0 },
		"workerSize":       func(a *components.ClusterArgs) { a.WorkerSize = "m6i.xlarge" },
		"workerSize and all": func(a *components.ClusterArgs) {
			a.WorkerSize, a.WorkerCount = "c7i.large", 7
		},
		// Only a plaintext cluster has a worker proxy to choose.
		"plaintext/workerProxy": func(a *components.ClusterArgs) { a.WorkerProxy = "v2-proxy" },
		"plaintext/workerSize and all": func(a *components.ClusterArgs) {
			a.WorkerSize, a.WorkerCount, a.WorkerProxy = "c7i.large", 7, "v2-proxy"
		},
	}
	for _, cloud := range []string{"aws", "digitalocean"} {
		base := map[bool]func(string) components.ClusterArgs{false: validArgs, true: discoveryArgs}
		for name, change := range changes {
			t.Run(cloud+"/"+name, func(t *testing.T) {
				argsOf := base[strings.HasPrefix(name, "plaintext/")]
				before, _ := mustProvision(t, argsOf(cloud))
				args := argsOf(cloud)
				change(&args)
				after, _ := mustProvision(t, args)
				b, a := centralResources(before), centralResources(after)
				if len(a) != len(b) || len(b) < 3 {
					t.Fatalf("central resources %d -> %d", len(b), len(a))
				}
				for i := range b {
					if !b[i].Inputs.DeepEquals(a[i].Inputs) {
						t.Errorf("%s inputs changed:\nbefore %v\nafter  %v", b[i].Name, b[i].Inputs, a[i].Inputs)
					}
					if !reflect.DeepEqual(b[i].IgnoreChanges, a[i].IgnoreChanges) || b[i].Protect != a[i].Protect ||
						b[i].DeleteBeforeReplace != a[i].DeleteBeforeReplace {
						t.Errorf("%s options changed", b[i].Name)
					}
				}
			})
		}
	}
}

// etcdPorts are the ports nothing outside the cluster may reach.
var etcdPorts = []float64{2379, 2380}

func coversEtcdPort(from, to float64) bool {
	for _, p := range etcdPorts {
		if from <= p && p <= to {
			return true
		}
	}
	return false
}

func portRange(s string) (float64, float64) {
	var from, to float64
	if n, _ := fmt.Sscanf(s, "%g-%g", &from, &to); n == 2 {
		return from, to
	}
	if s == "" || s == "all" {
		return 0, 65535
	}
	fmt.Sscanf(s, "%g", &from)
	return from, from
}

func TestNoEtcdPortOpenToAddresses(t *testing.T) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		t.Run(cloud, func(t *testing.T) {
			args := validArgs(cloud)
			args.SSHAllowedCidrs = []string{"0.0.0.0/0", "::/0"}
			m, _ := mustProvision(t, args)
			rules := 0
			for _, fw := range m.OfType(cloudShape[cloud].firewall) {
				key := resource.PropertyKey("ingress")
				if cloud == "digitalocean" {
					key = "inboundRules"
				}
				if !fw.Inputs.HasValue(key) {
					continue
				}
				for _, rule := range fw.Inputs[key].ArrayValue() {
					r := rule.ObjectValue()
					rules++
					var from, to float64
					if cloud == "aws" {
						from, to = r["fromPort"].NumberValue(), r["toPort"].NumberValue()
						if str(r, "protocol") == "-1" {
							from, to = 0, 65535
						}
					} else {
						from, to = portRange(str(r, "portRange"))
					}
					if !coversEtcdPort(from, to) {
						continue
					}
					for _, k := range []resource.PropertyKey{"cidrBlocks", "ipv6CidrBlocks", "sourceAddresses", "prefixListIds"} {
						if r.HasValue(k) && len(r[k].ArrayValue()) > 0 {
							t.Errorf("%s opens ports %v-%v to addresses %v", fw.Name, from, to, r[k])
						}
					}
				}
			}
			if rules == 0 {
				t.Fatal("no inbound rules found: the test would pass vacuously")
			}
		})
	}
}

// wantOutputs are the outputs the issue promises operators.
var wantOutputs = []string{"discoveryUrl", "flavor", "workerProxy", "etcdVersion", "centralNames", "centralPrivateIps", "centralPublicIps", "etcdClientEndpoints",
	"etcdPeerUrls", "workerGroup", "centralCloudConfig", "workerCloudConfig", "network", "tls", "etcdCaCert", "etcdClientCert", "etcdClientKey", "backupBucket", "backupPrefix", "backupListCommand"}

// TestOutputs checks the outputs of a cluster bootstrapped from a discovery
// URL, which is secret when the stack stores it so; TestTLSOutputs those of
// the default cluster.
func TestOutputs(t *testing.T) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		for _, secret := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/secret=%v", cloud, secret), func(t *testing.T) {
				args := discoveryArgs(cloud)
				args.DiscoveryURLSecret = secret
				m, out := mustProvision(t, args)
				for _, key := range wantOutputs {
					if _, ok := out.values[key]; !ok {
						t.Errorf("no output %s", key)
					}
				}
				if out.values["discoveryUrl"] != discoveryURL {
					t.Errorf("discoveryUrl = %v", out.values["discoveryUrl"])
				}
				ips := out.values["centralPrivateIps"].([]string)
				if len(ips) != 3 || len(out.values["centralPublicIps"].([]string)) != 3 {
					t.Fatalf("central IPs: private %v public %v", ips, out.values["centralPublicIps"])
				}
				for i, ip := range ips {
					if got, want := out.values["etcdClientEndpoints"].([]string)[i], fmt.Sprintf("http://%s:2379", ip); got != want {
						t.Errorf("etcdClientEndpoints[%d] = %v, want %s", i, got, want)
					}
					if got, want := out.values["etcdPeerUrls"].([]string)[i], fmt.Sprintf("http://%s:2380", ip); got != want {
						t.Errorf("etcdPeerUrls[%d] = %v, want %s", i, got, want)
					}
				}
				group, _ := out.values["workerGroup"].(string)
				if group == "" {
					t.Error("workerGroup is empty")
				}
				if cloud == "aws" {
					asg := m.OfType("aws:autoscaling/group:Group")[0]
					if group != str(asg.Outputs, "name") {
						t.Errorf("workerGroup = %q, want the group's name %q", group, str(asg.Outputs, "name"))
					}
				}
				network, _ := out.values["network"].(map[string]any)
				if network["vpcId"] == nil || network["vpcId"] == "" {
					t.Errorf("network has no vpcId: %v", network)
				}
				for _, key := range []string{"discoveryUrl", "centralCloudConfig", "workerCloudConfig"} {
					// On DigitalOcean central nodes carry the Spaces key.
					want := secret || key == "centralCloudConfig" && cloud == "digitalocean"
					if out.secrets[key] != want {
						t.Errorf("%s secret = %v, want %v", key, out.secrets[key], want)
					}
				}
				if out.secrets["centralPrivateIps"] {
					t.Error("centralPrivateIps is secret; only what carries the discovery URL should be")
				}
			})
		}
	}
}
