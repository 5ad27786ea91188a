package topobench

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/localetcd/localetcdtest"
	"github.com/isolatedetcd/cluster/internal/plan"
)

// BenchmarkWriteDuringHousekeeping measures what compaction and
// defragmentation cost a write while they run: the dev stack's 3 members
// (plaintext) and a worker, from the program's own user data. Each
// iteration first piles up history (not measured), then writes through the
// worker while nothing else runs (during=quiet), while a compaction of that
// history runs (during=compaction), or while every member is defragmented
// in turn, followers first, as the scheduled unit does (during=defrag); it
// reports the writes' p50 and p99 and how many were measured. Compare with
// benchstat:
//
//	go test ./internal/topobench -run '^$' -bench WriteDuringHousekeeping -benchtime 1x -count 6 > housekeeping.txt
//	benchstat -col /during housekeeping.txt
func BenchmarkWriteDuringHousekeeping(b *testing.B) {
	ctx := localetcdtest.Context(b)
	for _, during := range []string{"quiet", "compaction", "defrag"} {
		b.Run("during="+during, func(b *testing.B) { benchHousekeeping(b, ctx, during) })
	}
}

// History each iteration piles up: for compaction, many revisions of a few
// keys (what it walks); for defragmentation, large values (what it copies).
const (
	compactionTxns = 400 // of 128 puts each: 51,200 revisions
	defragPuts     = 800 // keys of 64 KiB, written again each iteration: 50 MiB live
	// housekeepingWrites bounds the measured writes of an iteration; with
	// compaction or defrag they stop when it ends.
	housekeepingWrites = 2000
)

func benchHousekeeping(b *testing.B, ctx context.Context, during string) {
	central, workers := 3, 1
	o := plan.Overrides{Central: &central, Workers: &workers, EtcdVersion: string(components.DefaultEtcdVersion), Plaintext: true, WorkerProxy: "gateway"}
	nodes := bootDev(b, ctx, o)
	var eps []string
	for _, n := range nodes.Central {
		eps = append(eps, n.Endpoint().Addr)
	}
	admin, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	writer, err := clientv3.New(clientv3.Config{Endpoints: []string{nodes.Workers[0].Endpoint().Addr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer writer.Close()
	for i := range tlsBenchWarmup {
		if err := localetcd.Retry(ctx, 10*time.Second, func() error {
			_, err := writer.Put(ctx, fmt.Sprintf("/bench/warmup/%d", i), benchValue)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		b.StopTimer()
		rev := pileUp(b, ctx, admin, during)
		b.StartTimer()
		var done atomic.Bool
		errc := make(chan error, 1)
		start := time.Now()
		go func() {
			defer done.Store(true)
			errc <- housekeep(ctx, admin, nodes, during, rev)
		}()
		var lat []time.Duration
		for i := 0; len(lat) < housekeepingWrites && (during == "quiet" || !done.Load()); i++ {
			t := time.Now()
			if _, err := writer.Put(ctx, fmt.Sprintf("/bench/k/%d", i%1000), benchValue); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t))
		}
		took := time.Since(start)
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		if len(lat) < 100 {
			b.Fatalf("%s took %s: only %d writes measured", during, took, len(lat))
		}
		b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
		b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
		b.ReportMetric(float64(len(lat)), "writes")
	}
}

// pileUp writes the history an iteration's housekeeping works on, and
// returns the revision to compact to.
func pileUp(b *testing.B, ctx context.Context, cli *clientv3.Client, during string) int64 {
	var rev int64
	switch during {
	case "compaction", "quiet":
		for range compactionTxns {
			ops := make([]clientv3.Op, 128)
			for k := range ops {
				ops[k] = clientv3.OpPut(fmt.Sprintf("/bench/history/%d", k), benchValue)
			}
			resp, err := cli.Txn(ctx).Then(ops...).Commit()
			if err != nil {
				b.Fatal(err)
			}
			rev = resp.Header.Revision
		}
	case "defrag":
		value := strings.Repeat("d", 64<<10)
		for i := range defragPuts {
			resp, err := cli.Put(ctx, fmt.Sprintf("/bench/large/%d", i), value)
			if err != nil {
				b.Fatal(err)
			}
			rev = resp.Header.Revision
		}
		// Freed pages, for the defragmentation to give back.
		if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
			b.Fatal(err)
		}
	}
	return rev
}

// housekeep runs what the writes are measured against: nothing (quiet),
// a compaction to rev, or a defragmentation of each member in turn, the
// leader last.
func housekeep(ctx context.Context, cli *clientv3.Client, nodes *localetcd.Nodes, during string, rev int64) error {
	switch during {
	case "compaction":
		_, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical())
		return err
	case "defrag":
		var leader string
		var order []string
		for _, n := range nodes.Central {
			st, err := cli.Status(ctx, n.Endpoint().Addr)
			if err != nil {
				return err
			}
			if st.Leader == st.Header.MemberId {
				leader = n.Endpoint().Addr
				continue
			}
			order = append(order, n.Endpoint().Addr)
		}
		for _, ep := range append(order, leader) {
			if _, err := cli.Defragment(ctx, ep); err != nil {
				return fmt.Errorf("defragment %s: %w", ep, err)
			}
		}
	}
	return nil
}
