package main

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
)

// benchWorkers and benchCentral are the cluster the engine benchmark previews.
const (
	benchCentral = 5
	benchWorkers = 1000
)

// BenchmarkEnginePreview previews a DigitalOcean cluster of 5 central nodes
// and 1,000 workers through the real engine (impl=program), beside a minimal
// program that registers as many resources, droplets with no more inputs
// than DigitalOcean requires (impl=minimal). It reports the engine's peak
// memory: the largest resident set of the CLI or a plugin it ran.
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
		{"program", program},
		{"minimal", minimalProgram(resources)},
	} {
		b.Run("impl="+bench.impl, func(b *testing.B) {
			name := "bench-" + bench.impl
			e.Run(b, "stack", "init", name)
			for k, v := range config {
				e.Run(b, "config", "set", "--stack", name, k, v)
			}
			s := e.Stack(b, name, bench.program)
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
	args, err := components.ArgsFromConfig(func(k string) (string, bool) { v, ok := config[k]; return v, ok }, func(string) bool { return false })
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
