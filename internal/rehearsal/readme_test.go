package rehearsal_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/internal/localetcd/localetcdtest"
	"github.com/isolatedetcd/cluster/internal/netlab"
	"github.com/isolatedetcd/cluster/internal/nodescript"
	"github.com/isolatedetcd/cluster/internal/rehearsal"
	"github.com/isolatedetcd/cluster/internal/rehearsecli"
)

// readmeDrillsCoveredBy names, for each rehearsal command the README shows
// (as written there), the test row that already runs its fault, backup and
// TLS drills (lines 3, 6c to 6e, 7) on the same shape: TestReadmeRehearsals
// runs such a command with --drills=false, and checks the claim (the row
// boots the same kind of cluster, node counts aside, with the drills, and
// with the renewal drills and the upgrade where the command runs them). A
// command without a row here runs as written, drills and all.
//
// The node counts are left aside because the drills' procedures are the
// same on 3 members as on 5: `--central 5 --workers 20` and `--stack prod`
// boot and prove the bigger clusters, and their drills are the default
// line's, at 3 central + 3 workers.
var readmeDrillsCoveredBy = map[string]string{
	"go run ./cmd/rehearse":                                                                             "TestRehearsal/flatcar/etcd3.6/static/grpc-proxy/tls",
	"go run ./cmd/rehearse --central 5 --workers 20":                                                    "TestRehearsal/flatcar/etcd3.6/static/grpc-proxy/tls",
	"go run ./cmd/rehearse --stack prod":                                                                "TestRehearsal/flatcar/etcd3.6/static/grpc-proxy/tls",
	"go run ./cmd/rehearse --etcd-version 3.5":                                                          "TestRehearsalUpgrade",
	"go run ./cmd/rehearse --etcd-version 3.5 --upgrade":                                                "TestRehearsalUpgrade",
	"go run ./cmd/rehearse --etcd-version 3.7":                                                          "TestRehearsal/flatcar/etcd3.7/static/grpc-proxy/tls",
	"go run ./cmd/rehearse --bootstrap discovery":                                                       "TestRehearsal/flatcar/etcd3.5/discovery/gateway",
	"go run ./cmd/rehearse --plaintext --worker-proxy gateway":                                          "TestRehearsal/flatcar/etcd3.6/static/gateway",
	"go run ./cmd/rehearse --cloud digitalocean --region nyc3 --dns-zone etcd.example.com":              "TestRehearsal/digitalocean/flatcar/etcd3.6/static/grpc-proxy/tls",
	"go run ./cmd/rehearse --etcd-version 3.5 --plaintext --worker-proxy gateway":                       "TestRehearsal/flatcar/etcd3.5/static/gateway",
	"go run ./cmd/rehearse --etcd-version 3.5 --bootstrap discovery --plaintext --worker-proxy gateway": "TestRehearsal/flatcar/etcd3.5/discovery/gateway",
	"go run ./cmd/rehearse --etcd-version 3.5 --plaintext --worker-proxy v2-proxy":                      "TestRehearsal/flatcar/etcd3.5/discovery/v2-proxy",
	"go run ./cmd/rehearse --etcd-version 3.6 --bootstrap discovery --plaintext --worker-proxy gateway": "TestRehearsal/flatcar/etcd3.6/discovery/gateway",
	"go run ./cmd/rehearse --etcd-version 3.7 --plaintext --worker-proxy gateway":                       "TestRehearsal/flatcar/etcd3.7/static/gateway",
	"go run ./cmd/rehearse --flavor coreos-etcd2 --image ami-0123456789abcdef0":                         "TestRehearsal/coreos-etcd2/discovery/v2-proxy",
}

// rehearsalDocs are the pages that teach the rehearsal's commands: the
// front door and the rehearsal's own page.
var rehearsalDocs = []string{"README.md", "docs/rehearsal.md"}

// TestReadmeRehearsals runs every rehearsal command rehearsalDocs show, so
// a command cannot be added there, or a flag renamed here, without CI
// running it. It finds every `go run ./cmd/rehearse` in their code
// blocks and code spans, and the recipe of every make target they
// name (`make rehearse` runs `go run ./cmd/rehearse --stack dev`, the
// same rehearsal as the first command, so it runs once; `make bench-etcd`
// runs --bench, a 5-minute measurement that rewrites docs/performance.md,
// so its flags are parsed but it is not run: internal/topobench's test runs
// the benchmark at its smallest). Each command's flags are parsed by the
// command's own flag set (internal/rehearsecli): a flag cmd/rehearse does
// not know fails the test, naming the README line. Each runs as written
// from the project directory, except that --drills=false is added where
// readmeDrillsCoveredBy names the row that runs its drills, and fails if a
// line of its report fails (a line not run says why). TLS commands need
// root (or a user namespace of the tests' own) for their network
// namespace, as TestRehearsal's TLS rows do, and say so when skipped.
//
// Time: 241 s and 257 s for its 15 rehearsals (2026-12-04, the 2-core
// machine, as root, etcd already built; about 10 s each, of which about 5 s
// is stopping the cluster, 20 s with the discovery demos, 45 s for the
// upgrade). Run as written, drills and all, they would take 17 minutes or
// more: 7 are TLS shapes, which took 113 s each at 3 central + 2 workers
// with every drill (measured for --etcd-version 3.7), and 8 plaintext ones
// take about 30 s. Cold it builds nothing the package's other tests would
// not: with the drills off it needs only etcd, which the package's first
// rehearsal builds whichever test runs it (about 25 s a line), so cold is
// warm plus at most those builds. With it TestRehearsal's 3.7 TLS row runs
// the renewal drills its README command runs: 97 s against the 3.5 row's
// 48 s. The package went from about 590 s warm to 893 s.
func TestReadmeRehearsals(t *testing.T) {
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []readmeCommand
	for _, name := range rehearsalDocs {
		doc, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		found, errs := readmeCommands(name, string(doc), string(makefile))
		for _, err := range errs {
			t.Error(err)
		}
		cmds = append(cmds, found...)
	}
	for text := range readmeDrillsCoveredBy {
		if !slices.ContainsFunc(cmds, func(c readmeCommand) bool { return c.text == text }) {
			t.Errorf("readmeDrillsCoveredBy names `%s`, which %s no longer show: remove it", text, strings.Join(rehearsalDocs, " and "))
		}
	}

	// Parse every command with cmd/rehearse's flags; run each rehearsal
	// once, however many times the README shows it.
	type rehearsalRun struct {
		cmds []readmeCommand
		cmd  *rehearsecli.Command
	}
	var runs []*rehearsalRun
	for _, c := range cmds {
		var out bytes.Buffer
		parsed, err := rehearsecli.Parse(c.args, &out)
		if err != nil {
			msg, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
			t.Errorf("%s: `%s`: cmd/rehearse refuses it: %s", c.where, c.text, msg)
			continue
		}
		if parsed.Bench != nil {
			t.Logf("%s: `%s`: the benchmark, parsed and not run (a measurement that rewrites docs; internal/topobench runs it at its smallest)", c.where, c.text)
			continue
		}
		i := slices.IndexFunc(runs, func(r *rehearsalRun) bool { return reflect.DeepEqual(r.cmd.Rehearsal, parsed.Rehearsal) })
		if i < 0 {
			runs = append(runs, &rehearsalRun{cmd: parsed})
			i = len(runs) - 1
		}
		runs[i].cmds = append(runs[i].cmds, c)
	}

	for _, r := range runs {
		first := r.cmds[0]
		t.Run(strings.TrimPrefix(first.text, "go run ./cmd/"), func(t *testing.T) {
			for _, c := range r.cmds {
				t.Logf("%s: `%s`", c.where, c.text)
			}
			o := inProject(r.cmd.Rehearsal)
			shape, err := rehearsal.ShapeOf(o)
			if err != nil {
				t.Fatalf("`%s`: %v", first.text, err)
			}
			var row string
			for _, c := range r.cmds {
				row = cmp.Or(row, readmeDrillsCoveredBy[c.text])
			}
			switch {
			case !o.Drills:
				t.Logf("%s: runs no drills", shape)
			case row == "":
				t.Logf("%s: no test row runs its drills (readmeDrillsCoveredBy): run as written, drills and all", shape)
			default:
				if err := covers(row, o, shape); err != nil {
					t.Fatalf("readmeDrillsCoveredBy[`%s`] = %s: %v", first.text, row, err)
				}
				// --drills=false added to the command as written, parsed
				// as the command parses it.
				parsed, err := rehearsecli.Parse(append(slices.Clone(first.args), "--drills=false"), new(bytes.Buffer))
				if err != nil {
					t.Fatal(err)
				}
				o = inProject(parsed.Rehearsal)
				t.Logf("%s: drills run by %s; here with --drills=false", shape, row)
			}
			// As TestRehearsal's rows: a TLS cluster boots in a network
			// namespace, and the backup drills (lines 7, flatcar) run the
			// nodes' scripts in mount namespaces; both need root, or a user
			// namespace of the tests' own.
			if err := netlab.Available(); shape.TLS && err != nil {
				t.Skipf("the TLS rehearsal makes a network namespace: %v", err)
			}
			if err := nodescript.Available(); o.Drills && shape.Flavor == "flatcar" && err != nil {
				t.Skipf("the backup drills (lines 7) run the nodes' scripts in mount namespaces: %v", err)
			}
			ctx := localetcdtest.Context(t)
			rep, err := rehearsal.Run(ctx, o)
			if err != nil {
				t.Fatalf("`%s`: %v", first.text, err)
			}
			var table strings.Builder
			_ = rep.WriteTable(&table, !rep.OK())
			if !rep.OK() {
				t.Errorf("`%s` (%s): not every proof holds:\n%s", first.text, first.where, table.String())
			} else {
				t.Logf("all proofs hold: %.1f s", rep.Timings.Total)
			}
		})
	}
}

// inProject is o as the command runs it from the project directory, where
// the README's commands are run.
func inProject(o rehearsal.Options) rehearsal.Options {
	if !filepath.IsAbs(o.Dir) {
		o.Dir = filepath.Join(root, o.Dir)
	}
	return o
}

// covers reports why the test row named row does not run the drills of o,
// which boots shape, if it does not.
func covers(row string, o rehearsal.Options, shape rehearsal.Shape) error {
	ro, ok := testRowOptions(row)
	if !ok {
		return fmt.Errorf("no such test row")
	}
	rs, err := rehearsal.ShapeOf(ro)
	if err != nil {
		return err
	}
	sameKind := func(s rehearsal.Shape) rehearsal.Shape { s.Central, s.Workers = 0, 0; return s }
	switch {
	case sameKind(rs) != sameKind(shape):
		return fmt.Errorf("the row boots %s, the command %s", rs, shape)
	case !ro.Drills:
		return errors.New("the row runs no drills")
	case shape.TLS && o.Renewal && !ro.Renewal:
		return errors.New("the command renews certificates and rotates the CA (lines 6d, 6e), the row does not")
	case o.Upgrade && !ro.Upgrade:
		return errors.New("the command upgrades (line 5), the row does not")
	}
	return nil
}

// testRowOptions are the options the test row named row rehearses with,
// as run gives them.
func testRowOptions(row string) (rehearsal.Options, bool) {
	var o rehearsal.Options
	switch i := slices.IndexFunc(rehearsalRows, func(r rehearsalRow) bool { return "TestRehearsal/"+r.name == row }); {
	case row == "TestRehearsalUpgrade":
		o = upgradeOptions
	case i >= 0:
		o = rehearsalRows[i].options()
	default:
		return o, false
	}
	o.Dir, o.Stack = root, "dev"
	return o, true
}

// readmeCommand is one rehearsal command the README shows.
type readmeCommand struct {
	// text is the command, its spaces normalized; args its arguments
	// after ./cmd/rehearse.
	text string
	args []string
	// where is the README line that shows it, and for a make target the
	// Makefile line that runs it.
	where string
}

const rehearseCommand = "go run ./cmd/rehearse"

var (
	codeSpan = regexp.MustCompile("`([^`]+)`")
	// comment is where a shell comment starts in a code block's line.
	comment = regexp.MustCompile(`(^|\s)#`)
)

// readmeCommands finds every `go run ./cmd/rehearse` in readme's code
// blocks (outside their comments) and code spans, naming each by the file
// name and line, and every make target readme names (`make x` in a code span, or in a code block, as a command or in a
// comment such as "# or: make x") whose recipe in makefile runs it. Errors
// name what cannot be read: a target the Makefile lacks, or shell syntax
// the test does not interpret.
func readmeCommands(name, readme, makefile string) ([]readmeCommand, []error) {
	var cmds []readmeCommand
	var errs []error
	add := func(code, where string) {
		i := strings.Index(code, rehearseCommand)
		if i < 0 {
			return
		}
		rest := code[i+len(rehearseCommand):]
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			return // another path, such as ./cmd/rehearse/main.go
		}
		text := strings.Join(strings.Fields(code[i:]), " ")
		if strings.ContainsAny(rest, "'\"$|&;<>()`\\*?{}[]~") {
			errs = append(errs, fmt.Errorf("%s: `%s`: shell syntax the test does not interpret; show plain flags", where, text))
			return
		}
		cmds = append(cmds, readmeCommand{text: text, args: strings.Fields(rest), where: where})
	}
	addMake := func(code, where string) {
		f := strings.Fields(code)
		if len(f) < 2 || f[0] != "make" {
			return
		}
		recipe, ok := makeRecipe(makefile, f[1])
		if !ok {
			errs = append(errs, fmt.Errorf("%s: `make %s`: the Makefile has no target %s", where, f[1], f[1]))
			return
		}
		for _, l := range recipe {
			add(l.text, fmt.Sprintf("`make %s` (%s; Makefile:%d)", f[1], where, l.n))
		}
	}

	var para []string
	paraStart := 0
	flush := func() {
		text := strings.Join(para, "\n")
		for _, m := range codeSpan.FindAllStringSubmatchIndex(text, -1) {
			where := fmt.Sprintf("%s:%d", name, paraStart+strings.Count(text[:m[0]], "\n"))
			span := strings.Join(strings.Fields(text[m[2]:m[3]]), " ")
			add(span, where)
			addMake(span, where)
		}
		para = nil
	}
	fenced := false
	for i, l := range strings.Split(readme, "\n") {
		n := i + 1
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			flush()
			fenced = !fenced
			continue
		}
		if fenced {
			where := fmt.Sprintf("%s:%d", name, n)
			code, note := l, ""
			if m := comment.FindStringIndex(l); m != nil {
				code, note = l[:m[0]], l[m[1]:]
			}
			add(code, where)
			addMake(strings.TrimSpace(code), where)
			note = strings.TrimPrefix(strings.TrimSpace(note), "or:")
			addMake(strings.TrimSpace(note), where)
			continue
		}
		if strings.TrimSpace(l) == "" {
			flush()
			continue
		}
		if para == nil {
			paraStart = n
		}
		para = append(para, l)
	}
	flush()
	return cmds, errs
}

// numberedLine is a line of a file and its number.
type numberedLine struct {
	n    int
	text string
}

// makeRecipe returns the recipe of target in makefile: the tab-indented
// lines after "target:".
func makeRecipe(makefile, target string) ([]numberedLine, bool) {
	var recipe []numberedLine
	found := false
	for i, l := range strings.Split(makefile, "\n") {
		switch {
		case strings.HasPrefix(l, target+":"):
			found = true
		case found && strings.HasPrefix(l, "\t"):
			recipe = append(recipe, numberedLine{i + 1, strings.TrimSpace(l)})
		case found:
			return recipe, true
		}
	}
	return recipe, found
}
