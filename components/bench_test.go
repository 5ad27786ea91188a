package components_test

import (
	"fmt"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
)

// scaleCases are the cluster sizes the benchmarks run: 3 central nodes with
// growing worker counts, and the target case of 5 central and 1000 workers.
var scaleCases = []struct{ central, workers int }{
	{3, 10}, {3, 100}, {3, 1000}, {5, 1000},
}

// BenchmarkCluster runs the whole component under the mock engine once per
// iteration: validation, rendering, every registration and its mock answer.
// pulumi.RunErr returns only once every registration has completed, so an
// iteration is a whole program run. Only runs with -bench:
//
//	go test ./components -run '^$' -bench BenchmarkCluster -benchmem -count 6
//
// Besides time and B/op it reports peak-heap-B: the highest live-plus-garbage
// heap (runtime/metrics /memory/classes/heap/objects:bytes) sampled every
// millisecond while the benchmark ran, which is what a process running the
// program holds at its worst, not the total it allocated.
func BenchmarkCluster(b *testing.B) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		b.Run(cloud, func(b *testing.B) {
			for _, tc := range scaleCases {
				b.Run(fmt.Sprintf("%dc%dw", tc.central, tc.workers), func(b *testing.B) {
					args := validArgs(cloud)
					args.CentralCount, args.WorkerCount = tc.central, tc.workers
					b.ReportAllocs()
					peak := startHeapPeak()
					var m *pulumitest.Mocks
					for b.Loop() {
						m = pulumitest.New()
						if err := m.Run(func(ctx *pulumi.Context) error {
							_, err := components.NewCluster(ctx, "etcd-dev", args)
							return err
						}); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(peak()), "peak-heap-B")
					b.StopTimer()
					if cloud == "digitalocean" {
						if got := len(workers(m, cloud)); got != tc.workers {
							b.Fatalf("worker droplets = %d, want %d", got, tc.workers)
						}
					}
				})
			}
		})
	}
}

// startHeapPeak samples the heap's object bytes until the returned function
// is called, which stops sampling and returns the largest sample.
func startHeapPeak() func() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	var (
		max  = read()
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v := read(); v > max {
					max = v
				}
			}
		}
	}()
	return func() uint64 {
		close(stop)
		wg.Wait()
		if v := read(); v > max {
			max = v
		}
		return max
	}
}
