package rehearsal

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/localetcd/localetcdtest"
	"github.com/isolatedetcd/cluster/internal/netlab"
	"github.com/isolatedetcd/cluster/internal/plan"
)

// TestNodeThatCannotStart boots a cluster one of whose workers cannot
// start: another process holds the address its proxy listens on, as on a
// machine where something else listens on 2379, so its etcd exits at once. The rehearsal
// reports, it does not crash: line 0 fails naming the node, with its log's
// reason; every line that needs the cluster, every drill and demo included,
// says it is not run because that node did not start; lines 8, which need
// only the nodes' user data, run as ever; and the boot does not wait out
// its timeout for a process that has exited.
func TestNodeThatCannotStart(t *testing.T) {
	ctx := localetcdtest.Context(t)
	block, err := localetcd.FreeBlock()
	if err != nil {
		t.Fatal(err)
	}
	holder, err := net.Listen("tcp", net.JoinHostPort(localetcd.WorkerAddr(block, 1), "2379"))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	go func() {
		for {
			c, err := holder.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	defer func(f func() (int, error)) { freeBlock = f }(freeBlock)
	freeBlock = func() (int, error) { return block, nil }

	three := 3
	const bootTimeout = 45 * time.Second
	var logged []string
	rep, err := Run(ctx, Options{Dir: "../..", Stack: "dev", BootTimeout: bootTimeout,
		Overrides: plan.Overrides{EtcdVersion: "3.5", Bootstrap: "discovery", WorkerProxy: "gateway", Plaintext: true, Central: &three, Workers: &three},
		Drills:    true, Demos: true, Renewal: true, Upgrade: true,
		Log: func(s string) { logged = append(logged, s) }})
	if err != nil {
		t.Fatalf("rehearsal: %v", err)
	}
	var table strings.Builder
	if err := rep.WriteTable(&table, false); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + table.String())

	const node = "etcd-dev-worker-1"
	boot, ok := rep.Line("0")
	if !ok || boot.Status != Fail || !strings.Contains(boot.Evidence, node+" did not start: exited") || !strings.Contains(boot.Evidence, "address already in use") {
		t.Errorf("line 0: %+v; want it failed, naming %s and its log's reason", boot, node)
	}
	if rep.OK() {
		t.Error("the report holds with a node that did not start")
	}
	if !strings.Contains(table.String(), "0 details:\n") || !strings.Contains(table.String(), node+"'s log:") {
		t.Error("the report does not show the node's log below the table")
	}
	if rep.Timings.Boot >= bootTimeout.Seconds() {
		t.Errorf("boot took %.1f s: it waited out its timeout for a process that had exited", rep.Timings.Boot)
	}
	want := []string{"0", "1", "1b", "2a", "2b", "2c", "3a", "3b", "3c", "3d", "3e", "3f", "3g", "3h", "3i", "4a", "4b", "5", "6a", "6b", "6c", "6d", "6e", "6f", "7a", "7b", "7c", "7d", "7e", "8a", "8b", "9a", "9b", "9c", "9d", "9e"}
	var got []string
	for _, l := range rep.Lines {
		got = append(got, l.ID)
		switch {
		case l.ID == "0":
		case l.ID == "8a" || l.ID == "8b":
			// The firewall needs the user data only: it runs as ever.
			if netlab.Available() == nil && netlab.CanRunAs(probeUID) && l.Status != Pass {
				t.Errorf("line %s %s: %s", l.ID, l.Status, l.Evidence)
			} else if l.Status == Fail {
				t.Errorf("line %s failed: %s", l.ID, l.Evidence)
			}
		case l.ID == "4a":
			// The wrong-size token boots a cluster of its own.
			if l.Status != Pass {
				t.Errorf("line 4a %s: %s", l.Status, l.Evidence)
			}
		default:
			if l.Status != Skip || l.Evidence != "not run: "+node+" did not start" {
				t.Errorf("line %s %s: %q; want it not run because %s did not start", l.ID, l.Status, l.Evidence, node)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	for _, s := range logged {
		if strings.Contains(s, "proving the topology") || strings.Contains(s, "fault drills") {
			t.Errorf("logged %q for lines not run", s)
		}
	}
}
