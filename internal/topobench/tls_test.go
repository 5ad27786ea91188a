package topobench

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/localetcd/localetcdtest"
	"github.com/isolatedetcd/cluster/internal/netlab"
	"github.com/isolatedetcd/cluster/internal/plan"
)

// BenchmarkWriteTLS measures what mutual TLS costs a write on the isolated
// topology: the dev stack's 3 members and one worker, from the program's
// own user data, plaintext (gateway workers) and with TLS (grpc-proxy
// workers, members requiring client certificates). Each iteration is
// tlsBenchWrites sequential writes over one gRPC connection, through the
// worker's 127.0.0.1:2379 as a client on the worker writes (path=worker),
// or straight to a member (path=member: the cost of TLS alone, without the
// worker proxy's); it reports their p50 and p99. Compare with benchstat:
//
//	go test ./internal/topobench -run '^$' -bench WriteTLS -benchtime 1x -count 8 > tls.txt
//	benchstat -col /tls tls.txt
func BenchmarkWriteTLS(b *testing.B) {
	ctx := localetcdtest.Context(b)
	if err := netlab.Available(); err != nil {
		b.Skip(err)
	}
	for _, path := range []string{"worker", "member"} {
		for _, tls := range []bool{false, true} {
			b.Run(fmt.Sprintf("path=%s/tls=%v", path, tls), func(b *testing.B) { benchWriteTLS(b, ctx, path, tls) })
		}
	}
}

// bootDev boots the dev stack's cluster with o's overrides, as the program
// renders it, until the benchmark ends.
func bootDev(b *testing.B, ctx context.Context, o plan.Overrides) *localetcd.Nodes {
	b.Helper()
	nodes, _ := bootDevHost(b, ctx, o)
	return nodes
}

// bootDevHost is bootDev and the host that runs the nodes' processes.
func bootDevHost(b *testing.B, ctx context.Context, o plan.Overrides) (*localetcd.Nodes, *localetcd.Host) {
	b.Helper()
	args, err := plan.StackArgs(filepath.Join("..", ".."), "dev", o)
	if err != nil {
		b.Fatal(err)
	}
	p, err := plan.Read(benchCluster, args)
	if err != nil {
		b.Fatal(err)
	}
	block, err := localetcd.FreeBlock()
	if err != nil {
		b.Fatal(err)
	}
	nodes, err := localetcd.Prepare(p, block, "")
	if err != nil {
		b.Fatal(err)
	}
	bins, err := localetcd.Binaries(ctx, nodes.Releases(), func(string) {})
	if err != nil {
		b.Fatal(err)
	}
	host, err := localetcd.NewHost(bins, block, time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(host.Close)
	if err := host.Boot(ctx, nodes); err != nil {
		b.Fatal(err)
	}
	return nodes, host
}

func benchWriteTLS(b *testing.B, ctx context.Context, path string, tls bool) {
	central, workers := 3, 1
	o := plan.Overrides{Central: &central, Workers: &workers, EtcdVersion: string(components.DefaultEtcdVersion)}
	if !tls {
		o.Plaintext, o.WorkerProxy = true, "gateway"
	}
	nodes := bootDev(b, ctx, o)
	ep := nodes.Workers[0].Endpoint()
	if path == "member" {
		ep = nodes.Central[0].Endpoint()
	}
	// One client for every case: gRPC, which the gateway forwards.
	link := &localetcd.Link{Dial: (&net.Dialer{}).DialContext, GRPC: true}
	if ep.Link != nil {
		link = &localetcd.Link{Dial: ep.Dial, TLS: ep.TLS, GRPC: true}
	}
	defer link.Close()
	ep.Link = link
	for i := range tlsBenchWarmup {
		if err := localetcd.Retry(ctx, 10*time.Second, func() error { return ep.Put(ctx, fmt.Sprintf("/bench/warmup/%d", i), benchValue) }); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		lat := make([]time.Duration, tlsBenchWrites)
		for i := range lat {
			t := time.Now()
			if err := ep.Put(ctx, fmt.Sprintf("/bench/k/%d", i), benchValue); err != nil {
				b.Fatal(err)
			}
			lat[i] = time.Since(t)
		}
		b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
		b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
	}
}

const (
	tlsBenchWarmup = 200
	tlsBenchWrites = 2000
)
