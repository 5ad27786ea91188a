package tests

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/pulumi/pulumi-digitalocean/sdk/v4/go/digitalocean"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/discovery/discoverytest"
	"github.com/isolatedetcd/cluster/internal/enginetest"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
	"github.com/isolatedetcd/cluster/internal/stackconfig"
)

// benchWorkers and benchCentral are the cluster the engine benchmark previews.
const (
	benchCentral = 5
	benchWorkers = 1000
)

// BenchmarkEnginePreview previews a DigitalOcean cluster of 5 central nodes
// and 1,000 workers through the real engine (impl=program), beside two
// programs that register as many resources with none of the component's
// work: droplets with no more inputs than DigitalOcean requires
// (impl=minimal), and droplets shaped like the program's workers, with the
// same inputs, unknowns and dependencies (impl=shaped). It reports the
// engine's peak memory: the largest resident set of the CLI or a plugin it ran.
//
//	go test -run '^$' -bench EnginePreview -count 6 . | tee engine.txt
//	benchstat -col /impl engine.txt
func BenchmarkEnginePreview(b *testing.B) {
	e := enginetest.New(b, ".")
	config := map[string]string{
		"cloud":        "digitalocean",
		"region":       "nyc3",
		"centralCount": strconv.Itoa(benchCentral),
		"workerCount":  strconv.Itoa(benchWorkers),
		"discoveryUrl": discoverytest.Server(b, strconv.Itoa(benchCentral)),
	}
	resources := registrations(b, config)
	for _, bench := range []struct {
		impl    string
		program pulumi.RunFunc
	}{
		{"program", goProgram},
		{"minimal", minimalProgram(resources)},
		{"shaped", shapedProgram(resources)},
	} {
		name := "bench-" + bench.impl
		s := e.Stack(b, name, bench.program)
		for k, v := range config {
			e.Run(b, "config", "set", "--stack", name, k, v)
		}
		b.Run("impl="+bench.impl, func(b *testing.B) {
			var peak int64
			for b.Loop() {
				if _, err := s.Preview(context.Background(), optpreview.SuppressProgress()); err != nil {
					b.Fatal(err)
				}
				peak = max(peak, e.CLI.LastMaxRSS())
			}
			b.ReportMetric(float64(peak)/(1<<20), "engine-peak-MB")
		})
	}
}

// registrations counts the resources the program registers with config,
// under the mock engine.
func registrations(b *testing.B, config map[string]string) int {
	args, err := stackconfig.ClusterArgs("bench", func(k string) (string, bool) { v, ok := config[k]; return v, ok }, func(string) bool { return false })
	if err != nil {
		b.Fatal(err)
	}
	args.SkipDiscoveryCheck = true
	m := pulumitest.New()
	if err := m.Run(func(ctx *pulumi.Context) error {
		_, err := components.NewCluster(ctx, "bench", args)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return len(m.Resources())
}

// minimalProgram registers n resources: a component and n-1 droplets under it.
func minimalProgram(n int) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		parent := &struct{ pulumi.ResourceState }{}
		if err := ctx.RegisterComponentResource("bench:index:Minimal", "minimal", parent); err != nil {
			return err
		}
		for i := range n - 1 {
			if _, err := digitalocean.NewDroplet(ctx, fmt.Sprintf("minimal-%d", i), &digitalocean.DropletArgs{
				Image:  pulumi.String("flatcar"),
				Region: pulumi.String("nyc3"),
				Size:   pulumi.String("s-2vcpu-4gb"),
			}, pulumi.Parent(parent)); err != nil {
				return err
			}
		}
		return nil
	}
}

// shapedProgram registers n resources shaped like the program's on
// DigitalOcean: a VPC, an imported image, three tags and two firewalls, then
// droplets whose image, VPC and user data are unknown at preview and which
// wait for the tags and firewalls, as the program's do.
func shapedProgram(n int) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		parent := &struct{ pulumi.ResourceState }{}
		if err := ctx.RegisterComponentResource("bench:index:Shaped", "shaped", parent); err != nil {
			return err
		}
		in := pulumi.Parent(parent)
		vpc, err := digitalocean.NewVpc(ctx, "shaped-vpc", &digitalocean.VpcArgs{Region: pulumi.String("nyc3"), IpRange: pulumi.String("10.21.0.0/16")}, in)
		if err != nil {
			return err
		}
		img, err := digitalocean.NewCustomImage(ctx, "shaped-image", &digitalocean.CustomImageArgs{
			Url: pulumi.String("https://example.com/image.bin.bz2"), Regions: pulumi.StringArray{pulumi.String("nyc3")}, Distribution: pulumi.String("CoreOS"),
		}, in)
		if err != nil {
			return err
		}
		image := img.ImageId.ApplyT(strconv.Itoa).(pulumi.StringOutput)
		var waitFor []pulumi.Resource
		for _, t := range []string{"shaped", "shaped-central", "shaped-worker"} {
			tag, err := digitalocean.NewTag(ctx, "shaped-tag-"+t, &digitalocean.TagArgs{Name: pulumi.String(t)}, in)
			if err != nil {
				return err
			}
			waitFor = append(waitFor, tag)
		}
		for _, role := range []string{"central", "worker"} {
			fw, err := digitalocean.NewFirewall(ctx, "shaped-"+role+"-firewall", &digitalocean.FirewallArgs{Tags: pulumi.StringArray{pulumi.String("shaped-" + role)}}, in)
			if err != nil {
				return err
			}
			waitFor = append(waitFor, fw)
		}
		ipRange := vpc.IpRange.ApplyT(func(r string) string { return "#cloud-config\n# " + r }).(pulumi.StringOutput)
		for i := range n - 8 {
			if _, err := digitalocean.NewDroplet(ctx, fmt.Sprintf("shaped-%d", i), &digitalocean.DropletArgs{
				Name:       pulumi.String(fmt.Sprintf("shaped-%d", i)),
				Image:      image,
				Region:     pulumi.String("nyc3"),
				Size:       pulumi.String("s-2vcpu-4gb"),
				VpcUuid:    vpc.ID(),
				UserData:   ipRange,
				Tags:       pulumi.ToStringArray([]string{"shaped", "shaped-worker"}),
				Monitoring: pulumi.Bool(false),
				Ipv6:       pulumi.Bool(false),
			}, in, pulumi.DependsOn(waitFor)); err != nil {
				return err
			}
		}
		return nil
	}
}
