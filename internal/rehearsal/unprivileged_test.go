package rehearsal_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/internal/netlab"
	"github.com/isolatedetcd/cluster/internal/netlab/netlabtest"
	"github.com/isolatedetcd/cluster/internal/plan"
	"github.com/isolatedetcd/cluster/internal/rehearsal"
)

// TestMain runs the tests, for an ordinary user, in a user namespace of
// their own (netlab.Reexec), as cmd/rehearse runs: there the TLS rows and
// the backup drills run as they do as root. Where the kernel refuses one,
// the tests that need it say so when they skip.
func TestMain(m *testing.M) {
	netlabtest.Main()
	netlab.Reexec()
	os.Exit(m.Run())
}

// asNobodyRow is the TestRehearsal row TestRehearsalAsOrdinaryUser runs
// as an ordinary user: TLS, the member replacement, the backup drills.
const asNobodyRow = "flatcar/etcd3.5/static/grpc-proxy/tls"

// TestRehearsalAsOrdinaryUser runs a TLS row of TestRehearsal again as an
// ordinary user (uid 65534, a home of its own), as a developer without root
// runs it: it must pass, not skip, in a user namespace of the tests' own,
// with the boot, the topology, the member replacement, every TLS line and
// every backup line passing, and the metadata firewall's lines saying they
// need root. Root only (CI): as an ordinary user every test runs so anyway.
func TestRehearsalAsOrdinaryUser(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a TLS row as an ordinary user; skipped with -short, as the row itself is")
	}
	home := netlabtest.Home(t)
	dir := project(t, filepath.Dir(home))
	run := "^TestRehearsal$"
	for _, part := range strings.Split(asNobodyRow, "/") {
		run += "/^" + regexp.QuoteMeta(part) + "$"
	}
	out, err := netlabtest.Command(t, home, dir, nil, "-test.run", run, "-test.v", "-test.count=1", "-test.timeout=20m").CombinedOutput()
	t.Logf("as uid %d:\n%s", netlabtest.Nobody, out)
	if err != nil {
		t.Fatalf("as uid %d: %v", netlabtest.Nobody, err)
	}
	if !strings.Contains(string(out), "--- PASS: TestRehearsal/"+asNobodyRow+" ") {
		t.Errorf("as uid %d, TestRehearsal/%s did not pass", netlabtest.Nobody, asNobodyRow)
	}
	for _, id := range []string{"0", "1", "1b", "2a", "2b", "2c", "3a", "3b", "3d", "3e", "6a", "6b", "6c", "7a", "7b", "7c", "7d", "7e"} {
		if !regexp.MustCompile(`(?m)^\s+` + id + `\s+PASS\s`).Match(out) {
			t.Errorf("as uid %d, line %s did not pass", netlabtest.Nobody, id)
		}
	}
	for _, id := range []string{"8a", "8b"} {
		if !regexp.MustCompile(`(?m)^\s+` + id + `\s+SKIP\s.*not run: needs root`).Match(out) {
			t.Errorf("as uid %d, line %s does not say it needs root", netlabtest.Nobody, id)
		}
	}
	if want := "user namespace of the rehearsal's own (uid 65534:65534 outside)"; !strings.Contains(string(out), want) {
		t.Errorf("as uid %d, line 0 does not say the lab was in a user namespace (%q)", netlabtest.Nobody, want)
	}
}

// TestRehearsalWhereUserNamespacesAreRefused runs TestRehearsalWithoutLab
// as an ordinary user whose kernel refuses user namespaces
// (user.max_user_namespaces 0 where it runs, netlabtest.Refusing): it must
// run, not skip, and the rehearsal must name that setting. Root only.
func TestRehearsalWhereUserNamespacesAreRefused(t *testing.T) {
	home := netlabtest.Home(t)
	dir := project(t, filepath.Dir(home))
	out, err := netlabtest.Refusing(t, home, dir, nil, "-test.run", "^TestRehearsalWithoutLab$", "-test.v", "-test.count=1", "-test.timeout=15m").CombinedOutput()
	t.Logf("as uid %d, user namespaces refused:\n%s", netlabtest.Nobody, out)
	if err != nil {
		t.Fatalf("as uid %d: %v", netlabtest.Nobody, err)
	}
	for _, want := range []string{"--- PASS: TestRehearsalWithoutLab ", "user.max_user_namespaces is 0 here; allow them with sysctl -w user.max_user_namespaces="} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q", want)
		}
	}
}

// TestRehearsalWithoutLab is the rehearsal where no network lab can be
// made (an ordinary user whose kernel refuses user namespaces): it says so
// in one line, runs every line that needs no lab, and fails nothing. The
// dev stack's TLS cluster cannot boot, so its lines all say why they are
// not run; a plaintext cluster proves the topology and runs the fault
// drills, and its backup and metadata firewall lines say why they are not
// run. Where labs can be made it skips: TestRehearsalWhereUserNamespacesAreRefused
// runs it where they cannot.
func TestRehearsalWithoutLab(t *testing.T) {
	labErr := netlab.Available()
	if labErr == nil {
		t.Skip("network labs can be made here; TestRehearsalWhereUserNamespacesAreRefused runs this where they cannot")
	}
	var logged []string
	log := func(s string) { logged = append(logged, s) }
	check := func(rep *rehearsal.Report, pass []string, notRun map[string]string) {
		t.Helper()
		var table strings.Builder
		_ = rep.WriteTable(&table, false)
		t.Log("\n" + table.String())
		if !rep.OK() {
			t.Error("a line failed")
		}
		if want := fmt.Sprintf("all proofs that ran hold; %d not run (each says why)", len(notRun)); !strings.Contains(table.String(), want) {
			t.Errorf("the report does not end %q", want)
		}
		for _, id := range pass {
			if l, ok := rep.Line(id); !ok || l.Status != rehearsal.Pass {
				t.Errorf("line %s: %+v, want it passed", id, l)
			}
		}
		for id, why := range notRun {
			if l, ok := rep.Line(id); !ok || l.Status != rehearsal.Skip || !strings.HasPrefix(l.Evidence, "not run: ") || !strings.Contains(l.Evidence, why) {
				t.Errorf("line %s: %+v, want it not run, saying %q", id, l, why)
			}
		}
		n := 0
		for _, s := range logged {
			if strings.Contains(s, "no network lab here") {
				t.Logf("rehearse: %s", s)
				n++
				if !strings.Contains(s, labErr.Error()) {
					t.Errorf("logged %q, which does not say why: %v", s, labErr)
				}
			}
		}
		if n != 1 {
			t.Errorf("%d lines say there is no network lab, want 1: %q", n, logged)
		}
		logged = nil
	}

	rep := run(t, rehearsal.Options{Drills: true, Demos: true, Renewal: true, Log: log})
	notRun := map[string]string{}
	for _, l := range rep.Lines {
		switch l.ID {
		case "4a", "4b":
			// The dev stack bootstraps statically: no token to misuse.
		case "8a", "8b":
			notRun[l.ID] = "needs root"
		case "0":
			notRun[l.ID] = "a TLS cluster's central nodes keep their cloud addresses in a network lab: " + labErr.Error()
		default:
			notRun[l.ID] = "a TLS cluster needs a network lab, and none can be made here (line 0 says why)"
		}
	}
	if len(notRun) < 20 {
		t.Errorf("the dev stack's report has %d lines", len(rep.Lines))
	}
	check(rep, nil, notRun)

	three := 3
	rep = run(t, rehearsal.Options{Overrides: plan.Overrides{WorkerProxy: "gateway", Plaintext: true, Central: &three, Workers: &three}, Drills: true, Log: log})
	backups := "the nodes' backup and restore scripts run in mount namespaces: "
	scripts := "the nodes' scripts run in mount namespaces: "
	check(rep, []string{"0", "1", "1b", "2a", "2b", "2c", "3a", "3b", "3d", "3e", "9a", "9d"},
		map[string]string{"7a": backups, "7b": backups, "7c": backups, "7d": backups, "7e": backups, "8a": "needs root", "8b": "needs root", "9b": scripts, "9c": scripts, "9e": scripts})
}

// project copies what the rehearsals read of the project directory (the
// stack files, the docs whose procedures the drills follow, the README and
// the Makefile) into base/project, where an ordinary user can read it
// whatever the checkout's permissions, and returns the directory an
// ordinary user runs this package's tests from.
func project(t *testing.T, base string) string {
	t.Helper()
	dst := filepath.Join(base, "project")
	copyFile := func(rel string) {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stacks, err := filepath.Glob(filepath.Join(root, "Pulumi*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(stacks, filepath.Join(root, "README.md"), filepath.Join(root, "Makefile")) {
		copyFile(filepath.Base(s))
	}
	// The metrics the alerting rules read, which line 9a looks for.
	copyFile(filepath.Join("monitoring", "metric-names.txt"))
	err = filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, path)
			copyFile(rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// This package's directory: root is ../.. from it.
	here := filepath.Join(dst, "internal", "rehearsal")
	if err := os.MkdirAll(here, 0o755); err != nil {
		t.Fatal(err)
	}
	return here
}
