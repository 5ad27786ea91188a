package digitalocean_test

import (
	"slices"
	"testing"
)

// TestMetricsInbound: the metrics ports the component names are open to
// the cluster's tags and the monitoring tags and CIDRs only; a worker port of 0
// opens nothing on workers.
func TestMetricsInbound(t *testing.T) {
	nodes := rule{Protocol: "tcp", PortRange: "2381", Tags: "etcd-central,etcd-worker"}
	monitoring := rule{Protocol: "tcp", PortRange: "2381", Addresses: "10.30.0.0/24,2001:db8::/48"}
	monitoringTags := rule{Protocol: "tcp", PortRange: "2381", Tags: "prometheus,k8s:monitoring"}
	for _, tc := range []struct {
		name            string
		workerPort      int
		cidrs, tags     []string
		central, worker []rule
	}{
		{"grpc-proxy workers, monitoring", 2381, []string{"10.30.0.0/24", "2001:db8::/48"}, nil, []rule{nodes, monitoring}, []rule{nodes, monitoring}},
		{"grpc-proxy workers, monitoring tags and CIDRs", 2381, []string{"10.30.0.0/24", "2001:db8::/48"}, []string{"prometheus", "k8s:monitoring"}, []rule{nodes, monitoringTags, monitoring}, []rule{nodes, monitoringTags, monitoring}},
		{"gateway workers, monitoring tag", 0, nil, []string{"prometheus"}, []rule{nodes, {Protocol: "tcp", PortRange: "2381", Tags: "prometheus"}}, nil},
		{"gateway workers, no monitoring", 0, nil, nil, []rule{nodes}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := newSpec(3, 2)
			spec.Ports.Metrics, spec.Ports.WorkerMetrics = 2381, tc.workerPort
			spec.MonitoringCidrs, spec.MonitoringGroups = tc.cidrs, tc.tags
			m, _ := provision(t, spec)
			for name, want := range map[string][]rule{"etcd-central-firewall": tc.central, "etcd-worker-firewall": tc.worker} {
				fw, ok := m.Named(name)
				if !ok {
					t.Fatalf("no firewall %s", name)
				}
				var got []rule
				for _, r := range rules(t, fw, "inboundRules", "sourceTags", "sourceAddresses") {
					if r.PortRange == "2381" {
						got = append(got, r)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s metrics inbound:\n got %+v\nwant %+v", name, got, want)
				}
			}
		})
	}
}
