package topobench_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/internal/localetcd/localetcdtest"
	"github.com/isolatedetcd/cluster/internal/topobench"
)

// TestBenchEtcdSmoke runs the topology benchmark at its smallest (N=5, one
// run, a few writes) and checks it yields sane figures for both topologies
// and writes its page and plot. No timing thresholds: CI machines differ.
// The full measurement: make bench-etcd (docs/performance.md, section 3).
func TestBenchEtcdSmoke(t *testing.T) {
	ctx := localetcdtest.Context(t)
	rep, err := topobench.Run(ctx, topobench.Options{
		Dir: filepath.Join("..", ".."), Stack: "dev", Sizes: []int{5}, Runs: 1, Warmup: 3, Writes: 20,
		Log: func(s string) { t.Log(s) },
	})
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	want := map[topobench.Topology]struct {
		voters   int
		endpoint string
	}{topobench.Everywhere: {5, "member"}, topobench.Isolated: {3, "gateway"}}
	if len(rep.Runs) != len(want) {
		t.Fatalf("%d runs, want one per topology: %+v", len(rep.Runs), rep.Runs)
	}
	for _, r := range rep.Runs {
		w := want[r.Topology]
		if r.N != 5 || r.Voters != w.voters || r.Endpoint != w.endpoint {
			t.Errorf("%s: N %d, %d voters, last endpoint %s; want 5, %d, %s", r.Topology, r.N, r.Voters, r.Endpoint, w.voters, w.endpoint)
		}
		if r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.RecoveryMs <= 0 || r.Attempts < 1 {
			t.Errorf("%s: p50 %v ms, p99 %v ms, recovery %v ms after %d attempts: want 0 < p50 <= p99 and a recovery", r.Topology, r.P50Ms, r.P99Ms, r.RecoveryMs, r.Attempts)
		}
		delete(want, r.Topology)
	}
	if len(want) > 0 {
		t.Errorf("topologies not measured: %v", want)
	}
	dir := t.TempDir()
	if err := rep.WriteDocs(dir, "go test"); err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(filepath.Join(dir, topobench.Page))
	if !strings.Contains(string(page), "| 5 | everywhere | 5 | member |") || !strings.Contains(string(page), "| 5 | isolated | 3 | gateway |") {
		t.Errorf("page:\n%s", page)
	}
	t.Logf("\n%s", page)
}
