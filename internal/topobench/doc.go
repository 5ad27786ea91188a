package topobench

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Where the bench writes its results, and the markers around the part of
// the page it owns: text outside them is kept as it is.
const (
	Page       = "performance.md"
	Plot       = "etcd-topologies.svg"
	benchBegin = "<!-- begin: written by `go run ./cmd/rehearse --bench`; edit outside these markers -->"
	benchEnd   = "<!-- end: written by `go run ./cmd/rehearse --bench` -->"
)

// WriteMarkdown writes the machine, the command, the summary table, the
// plot and every run.
func (b *Report) WriteMarkdown(w io.Writer, command string) error {
	m := b.Machine
	started, _ := time.Parse(time.RFC3339, b.Started)
	var p strings.Builder
	fmt.Fprintf(&p, "Measured %s UTC on %s (%d CPUs, %s memory, Linux %s), %s, etcd %s built by the rehearsal; data directories on %s.\n\n",
		started.Format("2006-01-02 15:04"), m.CPU, m.CPUs, m.Memory, m.Kernel, m.Go, b.Etcd, m.TempFS)
	wait := ""
	if b.MaxLoad > 0 {
		wait = fmt.Sprintf(", after waiting %.0f s for it to fall below %.2f", b.LoadWaitedS, b.MaxLoad)
	}
	fmt.Fprintf(&p, "Load average (1, 5, 15 min) when the first run started: %s%s; after the last run: %s (the runs' own etcd processes count in it).\n\n",
		loads(b.LoadBefore), wait, loads(b.LoadAfter))
	fmt.Fprintf(&p, "Command: `%s` (%.0f s in all).\n\n", command, b.TotalS)
	fmt.Fprintf(&p, "Each cell: the median over %d run(s) [least–greatest]. A run boots a fresh cluster (a new discovery token of the size of its voters), "+
		"makes %d sequential v3 writes (`/v3/kv/put`, 64-byte values, one kept-open connection) through the last node's local endpoint after %d warm-up writes, "+
		"then SIGKILLs the leader and starts a write through the same endpoint every 10 ms (each on a new connection, each given 1 s) until one succeeds.\n\n",
		b.RunsEach, b.Writes, b.Warmup)
	p.WriteString("| N | topology | voters | last node's endpoint | write p50 (ms) | write p99 (ms) | leader kill → write (ms) |\n")
	p.WriteString("|---:|---|---:|---|---:|---:|---:|\n")
	for _, s := range b.Summaries() {
		fmt.Fprintf(&p, "| %d | %s | %d | %s | %s | %s | %s |\n", s.N, s.Topology, s.Voters, s.Endpoint,
			spread(s.P50, 2), spread(s.P99, 2), spread(s.RecoveryMs, 0))
	}
	fmt.Fprintf(&p, "\n![write latency and leader-kill recovery against N, both topologies](%s)\n\n", Plot)
	p.WriteString("<details><summary>Every run</summary>\n\n")
	p.WriteString("| N | topology | run | boot (s) | write p50 (ms) | write p99 (ms) | leader kill → write (ms) | writes tried | leadership moved off the last node first |\n")
	p.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range b.Runs {
		moved := ""
		if r.Transferred {
			moved = "yes"
		}
		fmt.Fprintf(&p, "| %d | %s | %d | %.1f | %.2f | %.2f | %.0f | %d | %s |\n", r.N, r.Topology, r.Run, r.BootS, r.P50Ms, r.P99Ms, r.RecoveryMs, r.Attempts, moved)
	}
	p.WriteString("\n</details>\n")
	_, err := io.WriteString(w, p.String())
	return err
}

func loads(l [3]float64) string { return fmt.Sprintf("%.2f, %.2f, %.2f", l[0], l[1], l[2]) }

func spread(s Spread, digits int) string {
	return fmt.Sprintf("%.*f [%.*f–%.*f]", digits, s.Median, digits, s.Min, digits, s.Max)
}

// WriteDocs writes the plot to dir/etcd-topologies.svg and the results into
// dir/performance.md (Page) between its markers, keeping the rest of the page;
// a missing page is created with a title.
func (b *Report) WriteDocs(dir, command string) error {
	svg, err := b.SVG()
	if err != nil {
		return err
	}
	var md strings.Builder
	if err := b.WriteMarkdown(&md, command); err != nil {
		return err
	}
	page := filepath.Join(dir, Page)
	old, err := os.ReadFile(page)
	if errors.Is(err, fs.ErrNotExist) {
		old, err = []byte("# etcd everywhere or isolated: measured\n\n"+benchBegin+"\n"+benchEnd+"\n"), nil
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	before, rest, ok1 := strings.Cut(string(old), benchBegin)
	_, after, ok2 := strings.Cut(rest, benchEnd)
	if !ok1 || !ok2 {
		return fmt.Errorf("%s: the markers %q and %q are missing; put them where the results go", page, benchBegin, benchEnd)
	}
	text := before + benchBegin + "\n" + md.String() + benchEnd + after
	if err := os.WriteFile(filepath.Join(dir, Plot), svg, 0o644); err != nil {
		return err
	}
	return os.WriteFile(page, []byte(text), 0o644)
}
