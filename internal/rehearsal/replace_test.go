package rehearsal

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodeboot"
	"github.com/isolatedetcd/cluster/internal/plan"
)

// TestReplaceProcedure reads the member replacement procedure the drill 3e
// follows from docs/operations.md, and applies its override to the dev
// stack's first central node as the program renders it.
func TestReplaceProcedure(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := readReplaceProcedure(filepath.Join(root, operationsDoc))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/var/lib/etcd/member", "/var/lib/etcd/proxy"} {
		if !slices.Contains(doc.remove, d) {
			t.Errorf("the procedure deletes %v, not %s: etcd would start from what the first boot left there", doc.remove, d)
		}
	}
	args, err := plan.StackArgs(root, "dev", plan.Overrides{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	args.DiscoveryURL, args.SkipDiscoveryCheck = "http://127.9.1.1:2379/v2/keys/discovery/abc", true
	p, err := plan.Read("etcd-dev", args)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := nodeboot.Interpret(p.Flavor, p.Central[0], "127.9.2.1", map[string]string{p.Central[0].CloudIP: "127.9.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	env, err := doc.env(&localetcd.Node{Process: proc}, "a=http://127.9.2.1:2380,b=http://127.9.2.2:2380")
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(env, " ")
	for _, w := range []string{"ETCD_DISCOVERY= ", "ETCD_INITIAL_CLUSTER=a=http://127.9.2.1:2380,b=http://127.9.2.2:2380 ", "ETCD_INITIAL_CLUSTER_STATE=existing ", "ETCD_NAME=etcd-dev-central-0"} {
		if !strings.Contains(all+" ", w) {
			t.Errorf("missing %q in %s", w, all)
		}
	}
	if strings.Count(all, "ETCD_DISCOVERY=") != 1 {
		t.Errorf("ETCD_DISCOVERY twice in %s", all)
	}
}
