package rehearsal_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isolatedetcd/cluster/internal/localetcd/localetcdtest"
	"github.com/isolatedetcd/cluster/internal/netlab"
	"github.com/isolatedetcd/cluster/internal/nodescript"
	"github.com/isolatedetcd/cluster/internal/plan"
	"github.com/isolatedetcd/cluster/internal/rehearsal"
)

// root is the project directory, whose stack files the rehearsals read.
var root = filepath.Join("..", "..")

// rehearsalLines are the proofs every small rehearsal must pass: the boot
// (0), the topology (1, 2), the fault drills (3) that need no discovery
// endpoint, and the metadata firewall (8), which needs root.
var rehearsalLines = []string{"0", "1", "1b", "2a", "2b", "2c", "3a", "3b", "3d", "8a", "8b"}

// rehearse boots the dev stack with overrides and returns its report. The
// first call may build etcd; later ones reuse it.
func rehearse(tb testing.TB, o plan.Overrides, drills bool) *rehearsal.Report {
	tb.Helper()
	return run(tb, rehearsal.Options{Overrides: o, Drills: drills})
}

// run rehearses the dev stack with o.
func run(tb testing.TB, o rehearsal.Options) *rehearsal.Report {
	tb.Helper()
	ctx := localetcdtest.Context(tb)
	o.Dir, o.Stack, o.BootTimeout = root, "dev", 45*time.Second
	rep, err := rehearsal.Run(ctx, o)
	if err != nil {
		tb.Fatalf("rehearsal: %v", err)
	}
	return rep
}

// A TLS cluster proves the member replacement and lines 6 too; the renewal
// drills (6d, 6e), which roll every node four times, run on the default
// line of each cloud and on 3.7; 3.5's run in TestRehearsalUpgrade, before
// its upgrade.
var (
	tlsLines     = []string{"3e", "6a", "6b", "6c", "6f", "7a", "7b", "7c", "7d", "7e"}
	renewalLines = append(slices.Clone(tlsLines), "6d", "6e")
	// housekeepingLines (metrics, the scheduled defragmentation, NOSPACE
	// recovery, churn) run on one TLS row per etcd line and on one
	// plaintext row (members on loopback, gateway workers): about 20 s a
	// row; the other rows skip them.
	housekeepingLines = []string{"9a", "9b", "9c", "9d", "9e"}
)

// rehearsalRow is one of TestRehearsal's rehearsals.
type rehearsalRow struct {
	name string
	o    plan.Overrides
	// more are lines this flavor proves besides rehearsalLines: the
	// member replacement of docs/operations.md is written for flatcar.
	more []string
}

// options are what the row rehearses: the dev stack at 3 central + 3
// workers with the drills, and the renewal drills where the row proves
// them; run adds the directory, the stack and the boot timeout.
func (r rehearsalRow) options() rehearsal.Options {
	three := 3
	o := r.o
	o.Central, o.Workers = &three, &three
	return rehearsal.Options{Overrides: o, Drills: true, Renewal: slices.Contains(r.more, "6d"), SkipHousekeeping: !slices.Contains(r.more, "9a"), SkipRejoin: !slices.Contains(r.more, "3g"), SkipResize: !slices.Contains(r.more, "3h")}
}

// rehearsalRows are TestRehearsal's rows; TestReadmeRehearsals names the
// ones that prove its commands' drills.
var rehearsalRows = []rehearsalRow{
	{"flatcar/etcd3.5/static/grpc-proxy/tls", plan.Overrides{Flavor: "flatcar", EtcdVersion: "3.5"}, append(slices.Clone(tlsLines), housekeepingLines...)},
	// The self-replacement (3g, about 60 s) and the resize (3h) on one row.
	{"flatcar/etcd3.6/static/grpc-proxy/tls", plan.Overrides{Flavor: "flatcar", EtcdVersion: "3.6"}, slices.Concat(renewalLines, housekeepingLines, []string{"3g", "3h", "3i"})},
	{"flatcar/etcd3.7/static/grpc-proxy/tls", plan.Overrides{Flavor: "flatcar", EtcdVersion: "3.7"}, append(slices.Clone(renewalLines), housekeepingLines...)},
	// Ignition nodes (docs/ignition.md): TLS, backups, housekeeping and
	// the self-replacement, without the renewal drills, which roll every
	// node the same way.
	{"flatcar/etcd3.6/static/grpc-proxy/ignition/tls", plan.Overrides{Flavor: "flatcar", EtcdVersion: "3.6", ConfigFormat: "ignition"}, slices.Concat(tlsLines, housekeepingLines, []string{"3g", "3i"})},
	{"digitalocean/flatcar/etcd3.6/static/grpc-proxy/tls", plan.Overrides{Cloud: "digitalocean", Region: "nyc3", DNSZone: "etcd.example.com"}, renewalLines},
	{"flatcar/etcd3.5/static/gateway", plan.Overrides{Flavor: "flatcar", EtcdVersion: "3.5", WorkerProxy: "gateway", Plaintext: true}, []string{"7a", "7b", "3e"}},
	{"flatcar/etcd3.5/discovery/gateway", plan.Overrides{Flavor: "flatcar", EtcdVersion: "3.5", Bootstrap: "discovery", WorkerProxy: "gateway", Plaintext: true}, []string{"7a", "7b", "3c", "3e", "3f"}},
	{"flatcar/etcd3.5/discovery/v2-proxy", plan.Overrides{Flavor: "flatcar", EtcdVersion: "3.5", WorkerProxy: "v2-proxy", Plaintext: true}, []string{"7a", "7b", "3c", "3e", "3f"}},
	{"flatcar/etcd3.6/discovery/gateway", plan.Overrides{Flavor: "flatcar", EtcdVersion: "3.6", Bootstrap: "discovery", WorkerProxy: "gateway", Plaintext: true}, []string{"7a", "7b", "3c", "3e", "3f"}},
	{"flatcar/etcd3.6/static/gateway", plan.Overrides{Flavor: "flatcar", EtcdVersion: "3.6", WorkerProxy: "gateway", Plaintext: true}, append([]string{"7a", "7b", "3e"}, housekeepingLines...)},
	{"flatcar/etcd3.7/static/gateway", plan.Overrides{Flavor: "flatcar", EtcdVersion: "3.7", WorkerProxy: "gateway", Plaintext: true}, []string{"7a", "7b", "3e"}},
	{"coreos-etcd2/discovery/v2-proxy", plan.Overrides{Flavor: "coreos-etcd2", Image: "ami-0123456789abcdef0"}, []string{"3c"}},
}

// TestRehearsal boots 3 central + 3 workers per flavor and worker proxy from
// the program's own user data and asserts every line of proofs 1 to 3: for
// flatcar also the member replacement of docs/operations.md (3e, 3f).
func TestRehearsal(t *testing.T) {
	for _, tc := range rehearsalRows {
		// Not parallel: every rehearsal uses the same loopback addresses.
		t.Run(tc.name, func(t *testing.T) {
			// A TLS cluster boots in a network namespace of its own: as
			// root, or in a user namespace of the tests' own (TestMain).
			if err := netlab.Available(); strings.HasSuffix(tc.name, "/tls") && err != nil {
				t.Skipf("the TLS rehearsal makes a network namespace: %v", err)
			}
			rep := run(t, tc.options())
			var table strings.Builder
			_ = rep.WriteTable(&table, true)
			t.Log("\n" + table.String())
			want := append(slices.Clone(rehearsalLines), tc.more...)
			// Where nothing may run as root, not even in a user namespace
			// of the tests' own, the backup drills, which run the nodes'
			// scripts in mount namespaces, say they are not run.
			if err := nodescript.Available(); err != nil {
				want = slices.DeleteFunc(want, func(id string) bool {
					return strings.HasPrefix(id, "7") || id == "6f" || id == "9b" || id == "9c" || id == "9e"
				})
				for _, id := range tc.more {
					if l, ok := rep.Line(id); strings.HasPrefix(id, "7") && (!ok || l.Status != rehearsal.Skip || !strings.HasPrefix(l.Evidence, "not run: ")) {
						t.Errorf("line %s without mount namespaces: %+v, want it not run, saying why", id, l)
					}
				}
			}
			// The metadata firewall's proof needs a process of another
			// user, which only root has (no user namespace maps one).
			if netlab.Available() != nil || !netlab.CanRunAs(65534) {
				want = slices.DeleteFunc(want, func(id string) bool { return strings.HasPrefix(id, "8") })
				for _, id := range []string{"8a", "8b"} {
					if l, ok := rep.Line(id); !ok || l.Status != rehearsal.Skip || !strings.HasPrefix(l.Evidence, "not run: needs root") {
						t.Errorf("line %s without root: %+v, want it not run, saying it needs root", id, l)
					}
				}
			}
			for _, id := range want {
				l, ok := rep.Line(id)
				if !ok {
					t.Errorf("line %s missing", id)
				} else if l.Status != rehearsal.Pass {
					t.Errorf("line %s %s: %s: %s", id, l.Status, l.Claim, l.Evidence)
				}
			}
		})
	}
}

// upgradeOptions are TestRehearsalUpgrade's: those of `go run
// ./cmd/rehearse --etcd-version 3.5 --upgrade`.
// Lines 9 are the 3.5 TLS row's.
var upgradeOptions = rehearsal.Options{Overrides: plan.Overrides{EtcdVersion: "3.5"}, Drills: true, Demos: true, Renewal: true, Upgrade: true, SkipHousekeeping: true, SkipRejoin: true, SkipResize: true}

// TestRehearsalUpgrade moves a 3.5 cluster holding data to 3.6 as
// docs/operations.md says, with writes running, and loses none (line 5):
// after every drill, as `go run ./cmd/rehearse --etcd-version 3.5
// --upgrade` runs it, so after a member replaced, every member restored
// from a snapshot, every certificate renewed and the CA rotated. Every
// other line must hold too: this is where 3.5's renewal drills are proven.
func TestRehearsalUpgrade(t *testing.T) {
	if err := netlab.Available(); err != nil {
		t.Skipf("the TLS rehearsal makes a network namespace: %v", err)
	}
	rep := run(t, upgradeOptions)
	var table strings.Builder
	_ = rep.WriteTable(&table, true)
	t.Log("\n" + table.String())
	for _, id := range []string{"1", "2b", "3e", "7c", "6d", "6e", "5"} {
		if l, ok := rep.Line(id); !ok || l.Status != rehearsal.Pass {
			t.Errorf("line %s: %+v", id, l)
		}
	}
	for _, l := range rep.Lines {
		if l.Status == rehearsal.Fail {
			t.Errorf("line %s FAIL: %s: %s", l.ID, l.Claim, l.Evidence)
		}
	}
}

// TestRehearsalRejectsBadCounts shows the rehearsal gives the program's own
// message for settings the program rejects, before starting anything.
func TestRehearsalRejectsBadCounts(t *testing.T) {
	four := 4
	_, err := rehearsal.Run(context.Background(), rehearsal.Options{Dir: root, Stack: "dev", Overrides: plan.Overrides{Central: &four}})
	var cfg plan.ConfigError
	if !errors.As(err, &cfg) || !strings.Contains(err.Error(), "centralCount: 4 is not allowed") {
		t.Fatalf("err = %v, want the program's centralCount message", err)
	}
}

// BenchmarkRehearsal boots and verifies 3 central + 20 workers (lines 1 and
// 2). Run: go test ./internal/rehearsal -run '^$' -bench Rehearsal -benchtime 1x
func BenchmarkRehearsal(b *testing.B) {
	central, workers := 3, 20
	for b.Loop() {
		rep := rehearse(b, plan.Overrides{Central: &central, Workers: &workers}, false)
		if !rep.OK() {
			var table strings.Builder
			_ = rep.WriteTable(&table, true)
			b.Fatalf("rehearsal failed:\n%s", table.String())
		}
		b.ReportMetric(rep.Timings.Boot, "boot-s")
		b.ReportMetric(rep.Timings.Boot+rep.Timings.Verify, "boot+verify-s")
	}
}
