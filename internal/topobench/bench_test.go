package topobench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isolatedetcd/cluster/internal/localetcd"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 1: time.Millisecond} {
		if got := percentile(d, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if got := spreadOf([]float64{3, 1, 2, 10}); got != (Spread{2.5, 1, 10}) {
		t.Errorf("spread = %v", got)
	}
}

// TestWriteDocs keeps the page's own text and replaces only what lies
// between the markers; the plot is an SVG.
func TestWriteDocs(t *testing.T) {
	rep := &Report{Sizes: []int{5, 9}, RunsEach: 2, Writes: 10, Etcd: localetcd.V2Release, Machine: ThisMachine(), Started: time.Now().UTC().Format(time.RFC3339)}
	for _, n := range rep.Sizes {
		for run := 1; run <= 2; run++ {
			for _, topo := range Topologies {
				rep.Runs = append(rep.Runs, Result{Topology: topo, N: n, Run: run, Voters: n, P50Ms: float64(n), P99Ms: float64(2 * n), RecoveryMs: 1000 + float64(run)})
			}
		}
	}
	dir := t.TempDir()
	page := filepath.Join(dir, Page)
	if err := os.WriteFile(page, []byte("# title\n\nbefore\n\n"+benchBegin+"\nold numbers\n"+benchEnd+"\n\nafter: what they mean\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteDocs(dir, "go run ./cmd/rehearse --bench"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(page)
	text := string(b)
	for _, want := range []string{"before\n", "after: what they mean\n", "| 9 | isolated |", "`go run ./cmd/rehearse --bench`"} {
		if !strings.Contains(text, want) {
			t.Errorf("page lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "old numbers") {
		t.Errorf("old numbers kept:\n%s", text)
	}
	svg, err := os.ReadFile(filepath.Join(dir, Plot))
	if err != nil || !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "leader SIGKILL") {
		t.Errorf("plot: %v\n%.300s", err, svg)
	}
}
