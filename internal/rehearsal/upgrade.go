package rehearsal

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodeboot"
	"github.com/isolatedetcd/cluster/internal/plan"
)

var claimUpgrade = claim{id: "5", title: "upgrade to the next line: no write lost",
	text: "moved to the next etcd line as docs/operations.md says, workers' gateways first, then one member at a time, with clients writing, reading and swapping through workers and members throughout: their history is linearizable (no acknowledged write lost, no stale read) and the cluster runs the new line"}

// nextLine is the etcd line a running cluster moves to next: one minor
// version at a time, as etcd's upgrade guides require.
var nextLine = map[cloudconfig.EtcdVersion]cloudconfig.EtcdVersion{cloudconfig.Etcd35: cloudconfig.Etcd36, cloudconfig.Etcd36: cloudconfig.Etcd37}

// drillUpgrade moves a running flatcar cluster to the next etcd line the
// way an operator does with the program: the new line's user data, rendered
// by the program, on every worker (pulumi up), then booted on each central
// node's own data one node at a time (rollCentral); clients keep writing,
// reading and swapping through workers and members all along.
func (r *rehearsal) drillUpgrade(ctx context.Context, c *localetcd.Nodes, args components.ClusterArgs) Line {
	l := claimUpgrade.line()
	from, _ := cloudconfig.EtcdVersionOf(c.Central[0].Release)
	to, ok := nextLine[from]
	switch {
	case c.Plan.Flavor != cloudconfig.Flatcar:
		return l.skip("the upgrade is between the etcd lines of flatcar nodes")
	case !ok:
		return l.skip("etcd %s is the newest line", from)
	case len(c.Central) < 3 || len(c.Workers) == 0:
		return l.skip("needs 3 or more central nodes and a worker; this cluster has %d and %d", len(c.Central), len(c.Workers))
	case c.Plan.WorkerProxy == cloudconfig.V2Proxy:
		return l.skip("v2-proxy workers have no next line: move them to the gateway first")
	}
	next, err := r.nextNodes(ctx, c, args, to)
	if err != nil {
		return l.fail("%v", err)
	}

	// The last worker's local proxy is rolled last, after the clients
	// stop: what its client sees is what the members' upgrade caused.
	writerNode := c.Workers[len(c.Workers)-1]
	rec := newRecorder(l.ID)
	stopClients := rec.start(ctx, historyEndpoints(c))
	defer stopClients()
	if from.ServesV2() {
		if err := r.clearV2(ctx, c); err != nil {
			return l.fail("before the upgrade: %v", err)
		}
	}
	// As `pulumi up` with the new etcdVersion does: the workers' gateways
	// first (a TCP forwarder of either line carries either line's traffic),
	// then each central node through rollCentral.
	for i, n := range c.Workers[:len(c.Workers)-1] {
		if err := r.roll(ctx, n, next.Workers[i], c); err != nil {
			return l.fail("worker %s on %s: %v", n.Node, to.Release(), err)
		}
	}
	for i, n := range c.Central {
		if err := r.roll(ctx, n, next.Central[i], c); err != nil {
			return l.fail("after %d of %d members rolled to %s: %v", i, len(c.Central), to.Release(), err)
		}
	}
	stopClients()
	if err := r.roll(ctx, writerNode, next.Workers[len(c.Workers)-1], c); err != nil {
		return l.fail("worker %s on %s: %v", writerNode.Node, to.Release(), err)
	}
	rec.settle(ctx, c.Central[0].Endpoint())
	history, ok := rec.check(c.Plan.Cluster, l.ID)
	if !ok {
		return l.fail("%s", history)
	}
	versions, err := memberVersions(ctx, c)
	if err != nil {
		return l.fail("%v", err)
	}
	want := strings.TrimPrefix(to.Release(), "v")
	if slices.ContainsFunc(versions, func(v string) bool { return v != want }) {
		return l.fail("members run %v, want %s", versions, want)
	}
	return l.pass("%s; %d workers' gateways, then %d members one at a time, rolled %s -> %s; members run %s",
		history, len(c.Workers), len(c.Central), from.Release(), to.Release(), want)
}

// clearV2 is docs/operations.md's preparation of a 3.5 cluster whose
// members served the v2 API: etcd 3.6 refuses to start over custom v2 data,
// in the v2 store or in the WAL (where every /health of a v2-enabled 3.5
// member writes a v2 read). It deletes the v2 keys, restarts every member
// with a drop-in turning the v2 API off and snapshotting after every entry,
// and waits until each has taken a snapshot after the last restart, so that
// no member's WAL replays a v2 request any more.
func (r *rehearsal) clearV2(ctx context.Context, c *localetcd.Nodes) error {
	if err := c.Central[0].Endpoint().V2Delete(ctx, "/rehearsal"); err != nil && !strings.Contains(err.Error(), "404") {
		return fmt.Errorf("delete the v2 keys: %w", err)
	}
	for _, n := range c.Central {
		prepared := n.Process.WithEnv(map[string]string{"ETCD_ENABLE_V2": "false", "ETCD_SNAPSHOT_COUNT": "1"})
		if err := r.restart(ctx, n, prepared, c); err != nil {
			return err
		}
	}
	before := make([]string, len(c.Central))
	for i, n := range c.Central {
		before[i] = newestSnapshot(n)
	}
	return localetcd.Retry(ctx, drillTimeout, func() error {
		for i, n := range c.Central {
			if newestSnapshot(n) <= before[i] {
				return fmt.Errorf("%s has taken no snapshot since v2 went off", n.Node)
			}
		}
		return nil
	})
}

// newestSnapshot names a member's newest snapshot file: term and index in
// fixed-width hex, so names sort as snapshots do; "" before the first.
func newestSnapshot(n *localetcd.Node) string {
	files, _ := filepath.Glob(filepath.Join(n.DataDir(), "member", "snap", "*.snap"))
	if len(files) == 0 {
		return ""
	}
	return slices.Max(files)
}

// nextNodes are c's nodes as the program renders them on line to, at the
// same addresses, with that line's etcd built.
func (r *rehearsal) nextNodes(ctx context.Context, c *localetcd.Nodes, args components.ClusterArgs, to cloudconfig.EtcdVersion) (*localetcd.Nodes, error) {
	args.EtcdVersion, args.SkipDiscoveryCheck = string(to), true
	p, err := plan.Read(c.Plan.Cluster, args)
	if err != nil {
		return nil, fmt.Errorf("the program on etcd %s: %w", to, err)
	}
	next, err := localetcd.Prepare(p, r.Block, c.DiscoveryURL)
	if err != nil {
		return nil, err
	}
	bin, err := localetcd.Binary(ctx, to.Release(), r.log)
	if err != nil {
		return nil, err
	}
	r.Bins[to.Release()] = bin
	return next, nil
}

// roll stops n and starts it again as next, on its own disk, and waits until
// every member is healthy: an operator's rollCentral, one node at a time.
func (r *rehearsal) roll(ctx context.Context, n, next *localetcd.Node, c *localetcd.Nodes) error {
	return r.restart(ctx, n, next.Process, c)
}

// restart stops n as its unit does (SIGTERM, SIGKILL after the unit's
// grace, time a leader takes to hand leadership on), and starts it again as
// p, on its own disk, and waits until every member and n are healthy.
func (r *rehearsal) restart(ctx context.Context, n *localetcd.Node, p nodeboot.Process, c *localetcd.Nodes) error {
	n.Stop(n.StopGrace)
	n.Process = p
	if err := localetcd.PutFiles(n); err != nil {
		return err
	}
	n.Proc = n.Proc.Restarted(r.Bin(n.Release), n.Args, n.Env)
	if err := r.Start(n.Proc); err != nil {
		return err
	}
	return localetcd.Retry(ctx, drillTimeout, func() error {
		if err := n.ExitError(); err != nil {
			return localetcd.Permanent(fmt.Errorf("%w; log:\n%s", err, n.LogTail(5)))
		}
		for _, m := range c.Central {
			if err := m.Endpoint().Healthy(ctx); err != nil {
				return fmt.Errorf("%s: %w", m.Node, err)
			}
		}
		return n.Endpoint().Healthy(ctx)
	})
}

// memberVersions are the etcd releases the members report.
func memberVersions(ctx context.Context, c *localetcd.Nodes) ([]string, error) {
	var out []string
	for _, n := range c.Central {
		st, err := n.Endpoint().Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("status of %s: %w", n.Node, err)
		}
		out = append(out, st.Version)
	}
	return out, nil
}
