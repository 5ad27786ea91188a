package rehearsal

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/plan"
)

// Claims, one per report line.
var (
	claimMembers       = claim{id: "1", title: "centralCount voters, one leader", text: "exactly centralCount voting members, named as the program names them, all healthy, one leader"}
	claimKnownSettings = claim{id: "1b", title: "every rendered setting is one etcd knows", text: "every ETCD_* setting a central node's user data gives its etcd is one that etcd release knows: none is logged as unrecognized"}
	claimNoWorker      = claim{id: "2a", title: "no worker is a member", text: "no worker is in the member list"}
	claimWorkerAPI     = claim{id: "2b", title: "every worker endpoint reads and writes", text: "every worker's local endpoint serves reads and writes that reach the members"}
	claimCrossRead     = claim{id: "2c", title: "writes read back across workers", text: "a write through worker i is read back through worker i+1 and through every member"}
	claimStopCentral   = claim{id: "3a", title: "one member down: workers still write", text: "with one central member of three stopped, writes through every worker still succeed"}
	claimRestart       = claim{id: "3b", title: "stopped member rejoins, catches up", text: "the stopped member restarts, rejoins and catches up; the history of clients writing, reading and swapping through workers and members from before the stop until after the rejoin is linearizable"}
	claimStopDiscovery = claim{id: "3c", title: "discovery down: cluster unaffected", text: "with the discovery endpoint stopped after bootstrap, the cluster is unaffected"}
	claimStopWorker    = claim{id: "3d", title: "one worker down: others unaffected", text: "with one worker stopped, the other workers are unaffected"}
	claimWrongSize     = claim{id: "4a", title: "wrong-size token: refused, never forms", text: "pre-flight: a token whose size differs from centralCount breaks bootstrap"}
	claimUsedToken     = claim{id: "4b", title: "used token: refused, joins as proxy", text: "pre-flight: a token that already has members registered turns a new member into a proxy or fails it"}
)

// drillTimeout bounds each operation of a proof that must wait for the
// cluster to settle (a proxy noticing a stopped member, a member catching up).
const drillTimeout = 15 * time.Second

// proveMembers checks line 1 through every member.
func proveMembers(ctx context.Context, c *localetcd.Nodes) Line {
	l := claimMembers.line()
	var want []string
	for i := range c.Central {
		want = append(want, components.CentralName(c.Plan.Cluster, i))
	}
	ms, err := c.Central[0].Endpoint().Members(ctx)
	if err != nil {
		return l.fail("member list from %s: %v", c.Central[0].Node, err)
	}
	var got []string
	for _, m := range ms {
		if m.IsLearner {
			return l.fail("%s is a learner, not a voting member", m.Name)
		}
		got = append(got, m.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		return l.fail("members %v, want %v", got, want)
	}
	leaders := map[string]bool{}
	self := 0
	for _, n := range c.Central {
		if err := n.Endpoint().Healthy(ctx); err != nil {
			return l.fail("%s: %v", n.Node, err)
		}
		st, err := n.Endpoint().Status(ctx)
		if err != nil {
			return l.fail("%s status: %v", n.Node, err)
		}
		leaders[st.Leader] = true
		if st.Leader == st.Header.MemberID {
			self++
		}
	}
	if len(leaders) != 1 || self != 1 {
		return l.fail("members name %d different leaders; %d say they lead", len(leaders), self)
	}
	return l.pass("%d members %s, all healthy, one leader agreed by all", len(got), strings.Join(got, ", "))
}

// proveKnownSettings reads every member's log for the variables etcd did not
// recognize: a setting the rendered user data gives that this release no
// longer has (ETCD_ENABLE_V2 on 3.6, ETCD_DISCOVERY on 3.7) shows there.
func proveKnownSettings(c *localetcd.Nodes) Line {
	l := claimKnownSettings.line()
	var unknown []string
	for _, n := range c.Central {
		for line := range strings.Lines(localetcd.LogSince(n.Proc, 0)) {
			var entry struct {
				Msg string `json:"msg"`
				Var string `json:"environment-variable"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "unrecognized environment variable" {
				unknown = append(unknown, n.Node+": "+entry.Var)
			}
		}
	}
	if len(unknown) > 0 {
		return l.fail("etcd does not know %s", strings.Join(unknown, "; "))
	}
	return l.pass("no member logged an unrecognized ETCD_* variable (%d members, etcd %s)", len(c.Central), cmp.Or(c.Central[0].Release, "etcd2's v2-era equivalent"))
}

// proveNoWorkerMembers checks that no worker's name or address is a member.
func proveNoWorkerMembers(ctx context.Context, c *localetcd.Nodes) Line {
	l := claimNoWorker.line()
	ms, err := c.Central[0].Endpoint().Members(ctx)
	if err != nil {
		return l.fail("member list: %v", err)
	}
	for _, m := range ms {
		for _, w := range c.Workers {
			urls := strings.Join(append(slices.Clone(m.PeerURLs), m.ClientURLs...), ",")
			if m.Name == w.Node || strings.Contains(urls, "//"+w.Addr+":") {
				return l.fail("worker %s is member %s (%s)", w.Node, m.Name, urls)
			}
		}
	}
	return l.pass("%d members, none of the %d workers' names or addresses among them", len(ms), len(c.Workers))
}

// proveWorkerEndpoints writes and reads through every worker: v3 always, v2
// when the members serve it.
func proveWorkerEndpoints(ctx context.Context, c *localetcd.Nodes) Line {
	l := claimWorkerAPI.line()
	if len(c.Workers) == 0 {
		return l.skip("no workers")
	}
	v2 := c.ServesV2()
	for _, w := range c.Workers {
		key, value := "/rehearsal/v3/"+w.Node, "written via "+w.Node
		if err := w.Endpoint().Put(ctx, key, value); err != nil {
			return l.fail("v3 put via %s (%s): %v", w.Node, w.Endpoint(), err)
		}
		if got, err := c.Central[0].Endpoint().Get(ctx, key, false); err != nil || got != value {
			return l.fail("v3 put via %s not on member %s: %q %v", w.Node, c.Central[0].Node, got, err)
		}
		if got, err := w.Endpoint().Get(ctx, key, false); err != nil || got != value {
			return l.fail("v3 get via %s: %q %v", w.Node, got, err)
		}
		if !v2 {
			continue
		}
		key = "/rehearsal/v2/" + w.Node
		if err := w.Endpoint().V2Set(ctx, key, value); err != nil {
			return l.fail("v2 set via %s: %v", w.Node, err)
		}
		if got, err := c.Central[len(c.Central)-1].Endpoint().V2Get(ctx, key); err != nil || got != value {
			return l.fail("v2 set via %s not on member %s: %q %v", w.Node, c.Central[len(c.Central)-1].Node, got, err)
		}
	}
	apis := "v3"
	if v2 {
		apis = "v3 and v2"
	}
	return l.pass("%s put/get via each of %d workers (%s:2379 ... %s:2379), each write found on a member",
		apis, len(c.Workers), c.Workers[0].Addr, c.Workers[len(c.Workers)-1].Addr)
}

// proveCrossReads writes through each worker and reads back through the next
// worker and every member.
func proveCrossReads(ctx context.Context, c *localetcd.Nodes) Line {
	l := claimCrossRead.line()
	if len(c.Workers) == 0 {
		return l.skip("no workers")
	}
	reads := 0
	for i, w := range c.Workers {
		key, value := "/rehearsal/cross/"+w.Node, fmt.Sprintf("from %s at %d", w.Node, time.Now().UnixNano())
		if err := w.Endpoint().Put(ctx, key, value); err != nil {
			return l.fail("put via %s: %v", w.Node, err)
		}
		readers := append([]*localetcd.Node{c.Workers[(i+1)%len(c.Workers)]}, c.Central...)
		for _, r := range readers {
			if got, err := r.Endpoint().Get(ctx, key, false); err != nil || got != value {
				return l.fail("written via %s, read via %s: %q %v", w.Node, r.Node, got, err)
			}
			reads++
		}
	}
	return l.pass("%d writes, %d reads agree (each via the next worker and all %d members)", len(c.Workers), reads, len(c.Central))
}

// writeViaWorkers puts a key through every running worker, retrying while
// proxies notice a stopped member, and returns the last key written.
func writeViaWorkers(ctx context.Context, c *localetcd.Nodes, tag string) (string, string, error) {
	key, value := "", ""
	for _, w := range c.Workers {
		if !w.Running() {
			continue
		}
		key, value = "/rehearsal/"+tag+"/"+w.Node, tag+" via "+w.Node
		if err := localetcd.Retry(ctx, drillTimeout, func() error { return w.Endpoint().Put(ctx, key, value) }); err != nil {
			return "", "", fmt.Errorf("put via %s: %v", w.Node, err)
		}
	}
	return key, value, nil
}

// drillStopCentral stops central node 0, writes through every worker, then
// restarts it and checks it rejoins and holds the writes made without it.
func (r *rehearsal) drillStopCentral(ctx context.Context, c *localetcd.Nodes) []Line {
	stop, restart := claimStopCentral.line(), claimRestart.line()
	if len(c.Central) < 3 || len(c.Workers) == 0 {
		why := fmt.Sprintf("needs 3 or more central nodes and a worker; this cluster has %d and %d", len(c.Central), len(c.Workers))
		return []Line{stop.skip("%s", why), restart.skip("%s", why)}
	}
	rec := newRecorder("3b")
	stopClients := rec.start(ctx, historyEndpoints(c))
	defer stopClients()
	n := c.Central[0]
	n.Stop(5 * time.Second)
	key, value, err := writeViaWorkers(ctx, c, "without-"+n.Node)
	if err != nil {
		stop = stop.fail("%s stopped: %v", n.Node, err)
	} else {
		stop = stop.pass("%s stopped; a write through each of %d workers succeeded", n.Node, len(c.Workers))
	}

	if err := n.Start(); err != nil {
		return []Line{stop, restart.fail("restart %s: %v", n.Node, err)}
	}
	err = localetcd.Retry(ctx, drillTimeout, func() error {
		if err := n.ExitError(); err != nil {
			return err
		}
		if err := n.Endpoint().Healthy(ctx); err != nil {
			return err
		}
		if key == "" {
			return nil
		}
		// Serializable: the member's own copy, so this proves it caught up.
		got, err := n.Endpoint().Get(ctx, key, true)
		if err == nil && got != value {
			err = fmt.Errorf("has %q, want %q", got, value)
		}
		return err
	})
	if err != nil {
		return []Line{stop, restart.fail("%s after restart: %v; log:\n%s", n.Node, err, n.LogTail(5))}
	}
	ms, err := n.Endpoint().Members(ctx)
	if err != nil || len(ms) != len(c.Central) {
		return []Line{stop, restart.fail("%s after restart: %d members, %v", n.Node, len(ms), err)}
	}
	stopClients()
	rec.settle(ctx, n.Endpoint())
	history, ok := rec.check(c.Plan.Cluster, restart.ID)
	if !ok {
		return []Line{stop, restart.fail("%s", history)}
	}
	return []Line{stop, restart.pass("%s; %s healthy again within %s, %d members, and its own copy holds %s written while it was down", history, n.Node, drillTimeout, len(ms), key)}
}

// drillStopWorker stops the first worker and checks the others still serve.
func (r *rehearsal) drillStopWorker(ctx context.Context, c *localetcd.Nodes) Line {
	l := claimStopWorker.line()
	if len(c.Workers) < 2 {
		return l.skip("needs 2 or more workers; this cluster has %d", len(c.Workers))
	}
	w := c.Workers[0]
	w.Stop(5 * time.Second)
	// Back up afterwards, as the worker group replaces a lost worker, for
	// the drills that follow.
	defer func() {
		w.Proc = w.Proc.Restarted(r.Bin(w.Release), w.Args, w.Env)
		if r.Start(w.Proc) == nil {
			_ = localetcd.Retry(ctx, drillTimeout, func() error { return w.Endpoint().Healthy(ctx) })
		}
	}()
	key, value, err := writeViaWorkers(ctx, c, "without-"+w.Node)
	if err != nil {
		return l.fail("%s stopped: %v", w.Node, err)
	}
	for _, o := range c.Workers[1:] {
		if got, err := o.Endpoint().Get(ctx, key, false); err != nil || got != value {
			return l.fail("%s stopped: read via %s: %q %v", w.Node, o.Node, got, err)
		}
	}
	return l.pass("%s stopped; the other %d workers write and read back", w.Node, len(c.Workers)-1)
}

// drillStopDiscovery stops the discovery endpoint and checks the cluster.
func (r *rehearsal) drillStopDiscovery(ctx context.Context, c *localetcd.Nodes) Line {
	l := claimStopDiscovery.line()
	switch {
	case c.Plan.Bootstrap == components.BootstrapStatic:
		return l.skip("static bootstrap: no discovery endpoint to stop")
	case r.Discovery == nil:
		return l.skip("the stack's own discovery endpoint is not the rehearsal's to stop")
	}
	r.Discovery.Stop(5 * time.Second)
	if _, _, err := writeViaWorkers(ctx, c, "without-discovery"); err != nil {
		return l.fail("discovery stopped: %v", err)
	}
	for _, n := range c.Central {
		if !n.Running() {
			continue
		}
		if err := n.Endpoint().Healthy(ctx); err != nil {
			return l.fail("discovery stopped: %s: %v", n.Node, err)
		}
	}
	return l.pass("discovery stopped; every running worker writes, every member healthy")
}

// demoWrongSize boots the program's central nodes on a token sized
// centralCount+2 and shows the bootstrap never completes.
func (r *rehearsal) demoWrongSize(ctx context.Context, name string, args components.ClusterArgs) Line {
	l := claimWrongSize.line()
	size := args.CentralCount + 2
	args.DiscoveryURL, args.WorkerCount = localetcd.NewTokenURL(localetcd.DiscoveryAddr(r.Block)), 0
	if err := r.Discovery.SetSize(ctx, args.DiscoveryURL, size); err != nil {
		return l.fail("token: %v", err)
	}
	refusal, d, err := r.bootDemo(name, args, r.Block+1, 0)
	if err != nil {
		return l.fail("%v", err)
	}
	defer r.stopAll(d)
	wait := 8 * time.Second
	healthy := ""
	_ = localetcd.Retry(ctx, wait, func() error {
		for _, n := range d.Central {
			if n.Endpoint().Healthy(ctx) == nil {
				healthy = n.Node
				return nil
			}
		}
		return fmt.Errorf("none healthy")
	})
	reg, _ := r.Discovery.Registered(ctx, args.DiscoveryURL)
	if healthy != "" {
		return l.fail("token size %d, %d central: %s became healthy", size, len(d.Central), healthy)
	}
	return l.pass("token size %d, %d central nodes: the program refuses it (%s); booted anyway, %d registered and no member serves after %s: bootstrap waits for members that never come",
		size, len(d.Central), refusal, reg, wait)
}

// demoUsedToken boots central node 0 of another stack on the running
// cluster's token, whose members are all registered: a reused token.
func (r *rehearsal) demoUsedToken(ctx context.Context, c *localetcd.Nodes, stack string, args components.ClusterArgs) Line {
	l := claimUsedToken.line()
	name := components.ClusterName(stack + "-reuse")
	args.DiscoveryURL, args.WorkerCount = c.DiscoveryURL, 0
	refusal, d, err := r.bootDemo(name, args, r.Block+2, 1)
	if err != nil {
		return l.fail("%v", err)
	}
	defer r.stopAll(d)
	n := d.Central[0]
	outcome, err := proxyOrExit(ctx, n, 0)
	if err != nil {
		return l.fail("%s on the used token: %v", n.Node, err)
	}
	ms, err := c.Central[1].Endpoint().Members(ctx)
	if err != nil {
		return l.fail("member list: %v", err)
	}
	if memberAt(ms, n.Addr) != "" {
		return l.fail("%s joined %s as a member", n.Node, c.Plan.Cluster)
	}
	return l.pass("the program refuses %s's token for %s (%s); booted anyway, would-be member %s %s, and %s still has %d members",
		c.Plan.Cluster, name, refusal, n.Node, outcome, c.Plan.Cluster, len(ms))
}

// bootDemo runs the program for args with its discovery pre-flight check,
// which must refuse the token, then without it, and starts the first start
// (0: all) central nodes on address block without waiting for them. It
// returns the refusal's first line.
func (r *rehearsal) bootDemo(name string, args components.ClusterArgs, block, start int) (string, *localetcd.Nodes, error) {
	args.SkipDiscoveryCheck = false
	_, err := plan.Read(name, args)
	if err == nil {
		return "", nil, fmt.Errorf("the program's discovery pre-flight check accepted the token")
	} else if !errors.As(err, new(plan.ConfigError)) {
		return "", nil, err
	}
	msg := strings.TrimSpace(err.Error())
	refusal := msg[strings.LastIndex(msg, "\n")+1:]
	args.SkipDiscoveryCheck = true
	pl, err := plan.Read(name, args)
	if err != nil {
		return "", nil, err
	}
	c, err := localetcd.Prepare(pl, block, args.DiscoveryURL)
	if err != nil {
		return "", nil, err
	}
	if start == 0 {
		start = len(c.Central)
	}
	for _, n := range c.Central[:start] {
		n.Proc = localetcd.NewProc(n.Node, filepath.Join(r.Dir, fmt.Sprintf("block-%d", block), n.Node), r.Bin(n.Release), n.Args, n.Env)
		if err := r.Start(n.Proc); err != nil {
			return "", nil, err
		}
	}
	c.Central = c.Central[:start]
	return refusal, c, nil
}

// stopAll stops every started process of c.
func (r *rehearsal) stopAll(c *localetcd.Nodes) {
	for _, n := range append(slices.Clone(c.Central), c.Workers...) {
		n.Stop(5 * time.Second)
	}
}
