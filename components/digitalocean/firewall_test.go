package digitalocean_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/internal/pulumitest"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// rule is one firewall rule, flattened for comparison.
type rule struct {
	Protocol, PortRange string
	Tags, Addresses     string
}

func rules(t *testing.T, fw pulumitest.Resource, key, tags, addresses string) []rule {
	t.Helper()
	v, ok := fw.Inputs[resource.PropertyKey(key)]
	if !ok {
		return nil
	}
	var out []rule
	for _, r := range v.Mappable().([]any) {
		r := r.(map[string]any)
		get := func(k string) string {
			if v, ok := r[k]; ok {
				if s, ok := v.(string); ok {
					return s
				}
				return strings.Join(strs(v), ",")
			}
			return ""
		}
		out = append(out, rule{Protocol: get("protocol"), PortRange: get("portRange"), Tags: get(tags), Addresses: get(addresses)})
	}
	return out
}

func TestFirewalls(t *testing.T) {
	ssh := rule{Protocol: "tcp", PortRange: "22", Addresses: "198.51.100.0/24,2001:db8::/32"}
	etcd := []rule{
		{Protocol: "tcp", PortRange: "2379", Tags: "etcd-central,etcd-worker"},
		{Protocol: "tcp", PortRange: "2380", Tags: "etcd-central"},
	}
	outbound := []rule{
		{Protocol: "tcp", PortRange: "1-65535", Addresses: "0.0.0.0/0,::/0"},
		{Protocol: "udp", PortRange: "1-65535", Addresses: "0.0.0.0/0,::/0"},
		{Protocol: "icmp", Addresses: "0.0.0.0/0,::/0"},
	}
	for _, tc := range []struct {
		name            string
		cidrs           []string
		central, worker []rule
	}{
		{"ssh", []string{"198.51.100.0/24", "2001:db8::/32"}, append(slices.Clone(etcd), ssh), []rule{ssh}},
		{"no ssh", nil, etcd, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := newSpec(3, 2)
			spec.SSHAllowedCidrs = tc.cidrs
			m, _ := provision(t, spec)
			fws := m.OfType(firewallType)
			if len(fws) != 2 {
				t.Fatalf("%d firewalls, want 2", len(fws))
			}
			for _, want := range []struct {
				name, tag string
				inbound   []rule
			}{{"etcd-central-firewall", "etcd-central", tc.central}, {"etcd-worker-firewall", "etcd-worker", tc.worker}} {
				fw, ok := m.Named(want.name)
				if !ok {
					t.Fatalf("no firewall %s", want.name)
				}
				if got := strs(fw.Inputs["tags"].Mappable()); !slices.Equal(got, []string{want.tag}) {
					t.Errorf("%s: tags %v, want [%s]", want.name, got, want.tag)
				}
				if got := rules(t, fw, "inboundRules", "sourceTags", "sourceAddresses"); !slices.Equal(got, want.inbound) {
					t.Errorf("%s inbound:\n got %+v\nwant %+v", want.name, got, want.inbound)
				}
				if got := rules(t, fw, "outboundRules", "destinationTags", "destinationAddresses"); !slices.Equal(got, outbound) {
					t.Errorf("%s outbound:\n got %+v\nwant %+v", want.name, got, outbound)
				}
				for _, r := range rules(t, fw, "inboundRules", "sourceTags", "sourceAddresses") {
					if r.Addresses != "" && r.PortRange != "22" {
						t.Errorf("%s: port %s open to addresses %s", want.name, r.PortRange, r.Addresses)
					}
				}
			}
		})
	}
}
