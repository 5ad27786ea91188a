// Package cloudtest builds cloud.Specs for testing backends on their own,
// without the component: user data texts that say which node carries them
// and, for workers, which central addresses they were rendered from.
package cloudtest

import (
	"cmp"
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
)

// Spec is a Flatcar cluster called name in region with central and worker
// nodes, sized by p's defaults, in 10.21.0.0/16. Central node i is called
// name-central-i and carries CentralText(i); workers carry WorkerText of the
// central private IPs.
func Spec(p cloud.Provider, name, region string, central, workers int) cloud.Spec {
	centralSize, workerSize := p.DefaultSizes()
	s := cloud.Spec{
		Name:        name,
		Region:      region,
		VpcCidr:     "10.21.0.0/16",
		OS:          cloud.Flatcar,
		Ports:       cloud.Ports{Client: 2379, Peer: 2380},
		CentralSize: centralSize,
		WorkerCount: workers,
		WorkerSize:  workerSize,
		WorkerUserData: func(hosts pulumi.StringArrayOutput) pulumi.StringOutput {
			return hosts.ApplyT(WorkerText).(pulumi.StringOutput)
		},
		CentralUserData: func(hosts []string, _ *cloud.Store) ([]pulumi.StringOutput, error) {
			var out []pulumi.StringOutput
			for i := range central {
				out = append(out, pulumi.String(CentralText(i, hosts)).ToStringOutput())
			}
			return out, nil
		},
	}
	for i := range central {
		s.Central = append(s.Central, cloud.CentralNode{Name: fmt.Sprintf("%s-central-%d", name, i)})
	}
	return s
}

// CentralText is the user data of central node i, rendered from the hosts
// the backend gave (none: "").
func CentralText(i int, hosts []string) string {
	return fmt.Sprintf("#cloud-config\n# central %d of %s\n", i, strings.Join(hosts, ","))
}

// WorkerText is the user data of every worker, rendered from the central
// nodes' private IPs.
func WorkerText(centralIPs []string) string {
	return "#cloud-config\n# worker of " + strings.Join(centralIPs, ",") + "\n"
}

// ParentType is the type of the component Provision parents a backend's
// resources to, as the Cluster component does.
const ParentType = "cloudtest:index:Parent"

// Result is what a backend reported, resolved.
type Result struct {
	ParentURN string
	// Hosts are the central hosts peers and clients dial.
	Hosts                 []string
	PrivateIPs, PublicIPs []string
	WorkerGroup           string
	Network               map[string]any
}

// Provision runs p.Provision(spec) under m's mock engine, under a parent
// component called spec.Name, and resolves the cluster it reports.
func Provision(t testing.TB, m *pulumitest.Mocks, p cloud.Provider, spec cloud.Spec) Result {
	t.Helper()
	var r Result
	err := m.Run(func(ctx *pulumi.Context) error {
		parent := &struct{ pulumi.ResourceState }{}
		if err := ctx.RegisterComponentResource(ParentType, spec.Name, parent); err != nil {
			return err
		}
		c, err := p.Provision(ctx, spec, pulumi.Parent(parent))
		if err != nil {
			return err
		}
		var failed error
		await := func(o pulumi.Output) any {
			v, _, err := pulumitest.Await(ctx, o)
			failed = cmp.Or(failed, err)
			return v
		}
		urn, _ := await(parent.URN()).(pulumi.URN)
		r.ParentURN = string(urn)
		r.Hosts, _ = await(c.CentralHosts).([]string)
		r.PrivateIPs, _ = await(c.CentralPrivateIPs).([]string)
		r.PublicIPs, _ = await(c.CentralPublicIPs).([]string)
		r.WorkerGroup, _ = await(c.WorkerGroup).(string)
		r.Network, _ = await(c.Network.ToMapOutput()).(map[string]any)
		return failed
	})
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return r
}
