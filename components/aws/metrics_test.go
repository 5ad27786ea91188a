package aws_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/internal/pulumitest"
)

// TestMetricsIngress: the metrics ports the component names are open to
// the cluster's nodes and the monitoring groups and CIDRs, and to nobody else; a
// worker port of 0 opens nothing on workers.
func TestMetricsIngress(t *testing.T) {
	for _, tc := range []struct {
		name            string
		workerPort      int
		monitoring      []string
		groups          []string
		central, worker []string
	}{
		{"grpc-proxy workers, monitoring", 2381, []string{"10.30.0.0/24", "2001:db8::/48"}, nil,
			[]string{"self", "c1-worker-id", "10.30.0.0/24|2001:db8::/48"}, []string{"10.21.0.0/16", "10.30.0.0/24|2001:db8::/48"}},
		{"grpc-proxy workers, monitoring groups and CIDRs", 2381, []string{"10.30.0.0/24"}, []string{"sg-0123456789abcdef0", "sg-89abcdef"},
			[]string{"self", "c1-worker-id", "sg-0123456789abcdef0,sg-89abcdef", "10.30.0.0/24"}, []string{"10.21.0.0/16", "sg-0123456789abcdef0,sg-89abcdef", "10.30.0.0/24"}},
		{"gateway workers, monitoring group", 0, nil, []string{"sg-89abcdef"}, []string{"self", "c1-worker-id", "sg-89abcdef"}, nil},
		{"gateway workers, no monitoring", 0, nil, nil, []string{"self", "c1-worker-id"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := pulumitest.New()
			spec := testSpec(3, 2)
			spec.Ports.Metrics, spec.Ports.WorkerMetrics = 2381, tc.workerPort
			spec.MonitoringCidrs, spec.MonitoringGroups = tc.monitoring, tc.groups
			provision(t, m, spec)
			for group, want := range map[string][]string{"c1-central": tc.central, "c1-worker": tc.worker} {
				sg, _ := m.Named(group)
				var got []string
				for _, rule := range arrayOf(sg.Inputs["ingress"]) {
					o := rule.ObjectValue()
					if o["fromPort"].NumberValue() != 2381 {
						continue
					}
					if o["toPort"].NumberValue() != 2381 || o["protocol"].StringValue() != "tcp" {
						t.Errorf("%s: metrics rule %v opens more than tcp 2381", group, o)
					}
					var src string
					switch {
					case o.HasValue("self") && o["self"].BoolValue():
						src = "self"
					case o.HasValue("securityGroups"):
						src = strings.Join(stringsOf(o["securityGroups"]), ",")
					default:
						src = strings.Join(append(stringsOf(o["cidrBlocks"]), stringsOf(o["ipv6CidrBlocks"])...), "|")
					}
					got = append(got, src)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s metrics ingress from %v, want %v", group, got, want)
				}
			}
			for _, sg := range m.OfType(typeSG) {
				for _, rule := range arrayOf(sg.Inputs["ingress"]) {
					o := rule.ObjectValue()
					if cidrs := fmt.Sprint(stringsOf(o["cidrBlocks"])); strings.Contains(cidrs, "0.0.0.0/0") {
						t.Errorf("%s: %v open to the internet", sg.Name, o)
					}
				}
			}
		})
	}
}
