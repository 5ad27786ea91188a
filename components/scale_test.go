package components_test

import (
	"sync/atomic"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components/aws"
	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/components/cloud/cloudtest"
	"github.com/isolatedetcd/cluster/components/digitalocean"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
)

// TestScaleSmoke is the CI-sized case of BenchmarkCluster: 3 central nodes
// and 100 workers on DigitalOcean, one droplet per worker, all carrying the
// one worker user data. No timing assertions; see docs/performance.md.
func TestScaleSmoke(t *testing.T) {
	args := validArgs("digitalocean")
	args.CentralCount, args.WorkerCount = 3, 100
	m, out := mustProvision(t, args)
	if got := len(centrals(m, "digitalocean")); got != 3 {
		t.Errorf("central droplets = %d, want 3", got)
	}
	ws := workers(m, "digitalocean")
	if len(ws) != 100 {
		t.Fatalf("worker droplets = %d, want 100", len(ws))
	}
	text, _ := out.values["workerCloudConfig"].(string)
	for _, r := range ws {
		if got := userData(t, r); got != text {
			t.Fatalf("%s user data differs from workerCloudConfig", r.Name)
		}
	}
}

// TestWorkerUserDataRenderedOnce: a backend asks for the worker user data once
// per cluster, however many workers it creates, and that one output resolves
// once, so the cloud-config is rendered once, not once per worker.
func TestWorkerUserDataRenderedOnce(t *testing.T) {
	const workerCount = 1000
	for name, p := range map[string]cloud.Provider{"aws": aws.New(), "digitalocean": digitalocean.New()} {
		t.Run(name, func(t *testing.T) {
			var calls, renders atomic.Int32
			region := map[string]string{"aws": "us-east-2", "digitalocean": "nyc3"}[name]
			spec := cloudtest.Spec(p, "etcd", region, 3, workerCount)
			spec.WorkerUserData = func(ips pulumi.StringArrayOutput) pulumi.StringOutput {
				calls.Add(1)
				return ips.ApplyT(func(ips []string) string {
					renders.Add(1)
					return cloudtest.WorkerText(ips)
				}).(pulumi.StringOutput)
			}
			m := pulumitest.New()
			cloudtest.Provision(t, m, p, spec)
			if name == "digitalocean" {
				if got := len(workers(m, name)); got != workerCount {
					t.Fatalf("worker droplets = %d, want %d", got, workerCount)
				}
			}
			if calls.Load() != 1 || renders.Load() != 1 {
				t.Errorf("WorkerUserData called %d times and rendered %d times for %d workers, want once each", calls.Load(), renders.Load(), workerCount)
			}
		})
	}
}
