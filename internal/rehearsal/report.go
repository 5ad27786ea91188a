package rehearsal

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Status of one report line.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	// Skip is a proof this cluster's shape cannot give, such as a drill
	// that needs three central nodes.
	Skip Status = "skip"
)

// claim is what one report line proves: in a few words, and in full.
type claim struct{ id, title, text string }

func (c claim) line() Line { return Line{ID: c.id, Title: c.title, Claim: c.text} }

// Line is one proof: what is claimed, whether it held, and the evidence.
type Line struct {
	ID string `json:"id"`
	// Title is the claim in a few words, for the short report.
	Title    string `json:"title"`
	Claim    string `json:"claim"`
	Status   Status `json:"status"`
	Evidence string `json:"evidence"`
}

func (l Line) pass(format string, v ...any) Line { return l.with(Pass, format, v...) }
func (l Line) fail(format string, v ...any) Line { return l.with(Fail, format, v...) }
func (l Line) skip(format string, v ...any) Line { return l.with(Skip, format, v...) }
func (l Line) with(s Status, format string, v ...any) Line {
	l.Status, l.Evidence = s, fmt.Sprintf(format, v...)
	return l
}

// Timings are wall-clock seconds per phase.
type Timings struct {
	EtcdBinary float64 `json:"etcdBinary"`
	Boot       float64 `json:"boot"`
	Verify     float64 `json:"verify"`
	Drills     float64 `json:"drills,omitempty"`
	Demos      float64 `json:"demos,omitempty"`
	// Restore is the disaster drill's, from losing every member to every
	// key read back (line 7c).
	Restore float64 `json:"restore,omitempty"`
	Total   float64 `json:"total"`
}

// Report is what a rehearsal found.
type Report struct {
	Stack       string `json:"stack"`
	Cluster     string `json:"cluster"`
	Flavor      string `json:"flavor"`
	WorkerProxy string `json:"workerProxy"`
	// Etcd is the members' etcd release ("" for etcd2); Bootstrap static
	// or discovery.
	Etcd      string  `json:"etcd"`
	Bootstrap string  `json:"bootstrap"`
	Central   int     `json:"central"`
	Workers   int     `json:"workers"`
	Lines     []Line  `json:"lines"`
	Timings   Timings `json:"timings"`
}

func (r *Report) add(lines ...Line) { r.Lines = append(r.Lines, lines...) }

// OK reports whether no line failed.
func (r *Report) OK() bool {
	return !slices.ContainsFunc(r.Lines, func(l Line) bool { return l.Status == Fail })
}

// NotRun is how many lines were not run for want of what they need here
// (root, a network lab, a node that did not start): skipped lines that say
// "not run", unlike those this cluster's shape has no use for.
func (r *Report) NotRun() int {
	n := 0
	for _, l := range r.Lines {
		if l.Status == Skip && strings.HasPrefix(l.Evidence, "not run: ") {
			n++
		}
	}
	return n
}

// Line returns the line with id, or false.
func (r *Report) Line(id string) (Line, bool) {
	i := slices.IndexFunc(r.Lines, func(l Line) bool { return l.ID == id })
	if i < 0 {
		return Line{}, false
	}
	return r.Lines[i], true
}

// WriteJSON writes the report for machines.
func (r *Report) WriteJSON(w io.Writer) error {
	r.sort()
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// reportWidth is the terminal width the short report fits.
const reportWidth = 100

// WriteTable writes the report for people: a line per proof with its
// result and, cut to fit reportWidth columns, its evidence; verbose adds
// every claim in full with all of its evidence.
func (r *Report) WriteTable(w io.Writer, verbose bool) error {
	r.sort()
	fmt.Fprintf(w, "rehearsal of stack %s (cluster %s): %d central + %d workers\n%s, etcd %s, %s bootstrap, %s workers\n\n",
		r.Stack, r.Cluster, r.Central, r.Workers, r.Flavor, cmp.Or(r.Etcd, "etcd2"), r.Bootstrap, r.WorkerProxy)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if verbose {
		fmt.Fprintln(tw, "ID\tRESULT\tCLAIM\tEVIDENCE")
	}
	for _, l := range r.Lines {
		ev, _, _ := strings.Cut(l.Evidence, "\n")
		if verbose {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.ID, strings.ToUpper(string(l.Status)), l.Claim, ev)
			continue
		}
		head := fmt.Sprintf("%-3s %-4s  %-38s  ", l.ID, strings.ToUpper(string(l.Status)), l.Title)
		fmt.Fprintln(tw, head+cut(ev, reportWidth-len(head)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range r.Lines {
		if _, rest, _ := strings.Cut(l.Evidence, "\n"); strings.TrimSpace(rest) != "" && l.Status == Fail {
			fmt.Fprintf(w, "\n%s details:\n%s\n", l.ID, rest)
		}
	}
	t := r.Timings
	verdict := "all proofs hold"
	if n := r.NotRun(); !r.OK() {
		verdict = "SOME PROOFS FAILED"
	} else if n > 0 {
		verdict = fmt.Sprintf("all proofs that ran hold; %d not run (each says why)", n)
	}
	_, err := fmt.Fprintf(w, "\n%s. seconds: etcd binary %.1f, boot %.1f, verify %.1f, drills %.1f, demos %.1f, total %.1f\n",
		verdict, t.EtcdBinary, t.Boot, t.Verify, t.Drills, t.Demos, t.Total)
	return err
}

// cut shortens s to n runes, marking the cut.
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func (r *Report) sort() {
	slices.SortStableFunc(r.Lines, func(a, b Line) int { return strings.Compare(a.ID, b.ID) })
}
