package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/isolatedetcd/cluster/components"
)

// Claims, one per report line.
const (
	claimMembers       = "exactly centralCount voting members, named as the program names them, all healthy, one leader"
	claimNoWorker      = "no worker is in the member list"
	claimWorkerAPI     = "every worker's local endpoint serves reads and writes that reach the members"
	claimCrossRead     = "a write through worker i is read back through worker i+1 and through every member"
	claimStopCentral   = "with one central member of three stopped, writes through every worker still succeed"
	claimRestart       = "the stopped member restarts, rejoins and catches up"
	claimStopDiscovery = "with the discovery endpoint stopped after bootstrap, the cluster is unaffected"
	claimStopWorker    = "with one worker stopped, the other workers are unaffected"
	claimWrongSize     = "pre-flight: a token whose size differs from centralCount breaks bootstrap"
	claimUsedToken     = "pre-flight: a token that already has members registered turns a new member into a proxy or fails it"
)

// drillTimeout bounds each operation of a proof that must wait for the
// cluster to settle (a proxy noticing a stopped member, a member catching up).
const drillTimeout = 15 * time.Second

// proveMembers checks line 1 through every member.
func proveMembers(ctx context.Context, c *cluster, bootErr error) Line {
	l := Line{ID: "1", Claim: claimMembers}
	if bootErr != nil {
		return l.fail("boot: %v", bootErr)
	}
	var want []string
	for i := range c.central {
		want = append(want, components.CentralName(c.plan.Cluster, i))
	}
	ms, err := c.central[0].endpoint().members(ctx)
	if err != nil {
		return l.fail("member list from %s: %v", c.central[0].Node, err)
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
	for _, n := range c.central {
		if err := n.endpoint().healthy(ctx); err != nil {
			return l.fail("%s: %v", n.Node, err)
		}
		st, err := n.endpoint().status(ctx)
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

// proveNoWorkerMembers checks that no worker's name or address is a member.
func proveNoWorkerMembers(ctx context.Context, c *cluster) Line {
	l := Line{ID: "2a", Claim: claimNoWorker}
	ms, err := c.central[0].endpoint().members(ctx)
	if err != nil {
		return l.fail("member list: %v", err)
	}
	for _, m := range ms {
		for _, w := range c.workers {
			urls := strings.Join(append(slices.Clone(m.PeerURLs), m.ClientURLs...), ",")
			if m.Name == w.Node || strings.Contains(urls, "//"+w.Addr+":") {
				return l.fail("worker %s is member %s (%s)", w.Node, m.Name, urls)
			}
		}
	}
	return l.pass("%d members, none of the %d workers' names or addresses among them", len(ms), len(c.workers))
}

// proveWorkerEndpoints writes and reads through every worker: v3 always, v2
// when the members serve it.
func proveWorkerEndpoints(ctx context.Context, c *cluster) Line {
	l := Line{ID: "2b", Claim: claimWorkerAPI}
	if len(c.workers) == 0 {
		return l.skip("no workers")
	}
	v2 := c.servesV2()
	for _, w := range c.workers {
		key, value := "/rehearsal/v3/"+w.Node, "written via "+w.Node
		if err := w.endpoint().put(ctx, key, value); err != nil {
			return l.fail("v3 put via %s (%s): %v", w.Node, w.endpoint(), err)
		}
		if got, err := c.central[0].endpoint().get(ctx, key, false); err != nil || got != value {
			return l.fail("v3 put via %s not on member %s: %q %v", w.Node, c.central[0].Node, got, err)
		}
		if got, err := w.endpoint().get(ctx, key, false); err != nil || got != value {
			return l.fail("v3 get via %s: %q %v", w.Node, got, err)
		}
		if !v2 {
			continue
		}
		key = "/rehearsal/v2/" + w.Node
		if err := w.endpoint().v2Set(ctx, key, value); err != nil {
			return l.fail("v2 set via %s: %v", w.Node, err)
		}
		if got, err := c.central[len(c.central)-1].endpoint().v2Get(ctx, key); err != nil || got != value {
			return l.fail("v2 set via %s not on member %s: %q %v", w.Node, c.central[len(c.central)-1].Node, got, err)
		}
	}
	apis := "v3"
	if v2 {
		apis = "v3 and v2"
	}
	return l.pass("%s put/get via each of %d workers (%s:2379 ... %s:2379), each write found on a member",
		apis, len(c.workers), c.workers[0].Addr, c.workers[len(c.workers)-1].Addr)
}

// proveCrossReads writes through each worker and reads back through the next
// worker and every member.
func proveCrossReads(ctx context.Context, c *cluster) Line {
	l := Line{ID: "2c", Claim: claimCrossRead}
	if len(c.workers) == 0 {
		return l.skip("no workers")
	}
	reads := 0
	for i, w := range c.workers {
		key, value := "/rehearsal/cross/"+w.Node, fmt.Sprintf("from %s at %d", w.Node, time.Now().UnixNano())
		if err := w.endpoint().put(ctx, key, value); err != nil {
			return l.fail("put via %s: %v", w.Node, err)
		}
		readers := append([]*node{c.workers[(i+1)%len(c.workers)]}, c.central...)
		for _, r := range readers {
			if got, err := r.endpoint().get(ctx, key, false); err != nil || got != value {
				return l.fail("written via %s, read via %s: %q %v", w.Node, r.Node, got, err)
			}
			reads++
		}
	}
	return l.pass("%d writes, %d reads agree (each via the next worker and all %d members)", len(c.workers), reads, len(c.central))
}

// writeViaWorkers puts a key through every running worker, retrying while
// proxies notice a stopped member, and returns the last key written.
func writeViaWorkers(ctx context.Context, c *cluster, tag string) (string, string, error) {
	key, value := "", ""
	for _, w := range c.workers {
		if !w.running() {
			continue
		}
		key, value = "/rehearsal/"+tag+"/"+w.Node, tag+" via "+w.Node
		if err := retry(ctx, drillTimeout, func() error { return w.endpoint().put(ctx, key, value) }); err != nil {
			return "", "", fmt.Errorf("put via %s: %v", w.Node, err)
		}
	}
	return key, value, nil
}

// drillStopCentral stops central node 0, writes through every worker, then
// restarts it and checks it rejoins and holds the writes made without it.
func (r *rehearsal) drillStopCentral(ctx context.Context, c *cluster) []Line {
	stop, restart := Line{ID: "3a", Claim: claimStopCentral}, Line{ID: "3b", Claim: claimRestart}
	if len(c.central) < 3 || len(c.workers) == 0 {
		why := fmt.Sprintf("needs 3 or more central nodes and a worker; this cluster has %d and %d", len(c.central), len(c.workers))
		return []Line{stop.skip("%s", why), restart.skip("%s", why)}
	}
	n := c.central[0]
	n.stop(5 * time.Second)
	key, value, err := writeViaWorkers(ctx, c, "without-"+n.Node)
	if err != nil {
		stop = stop.fail("%s stopped: %v", n.Node, err)
	} else {
		stop = stop.pass("%s stopped; a write through each of %d workers succeeded", n.Node, len(c.workers))
	}

	if err := n.start(); err != nil {
		return []Line{stop, restart.fail("restart %s: %v", n.Node, err)}
	}
	err = retry(ctx, drillTimeout, func() error {
		if err := n.exitError(); err != nil {
			return err
		}
		if err := n.endpoint().healthy(ctx); err != nil {
			return err
		}
		if key == "" {
			return nil
		}
		// Serializable: the member's own copy, so this proves it caught up.
		got, err := n.endpoint().get(ctx, key, true)
		if err == nil && got != value {
			err = fmt.Errorf("has %q, want %q", got, value)
		}
		return err
	})
	if err != nil {
		return []Line{stop, restart.fail("%s after restart: %v; log:\n%s", n.Node, err, n.logTail(5))}
	}
	ms, err := n.endpoint().members(ctx)
	if err != nil || len(ms) != len(c.central) {
		return []Line{stop, restart.fail("%s after restart: %d members, %v", n.Node, len(ms), err)}
	}
	return []Line{stop, restart.pass("%s healthy again within %s, %d members, and its own copy holds %s written while it was down", n.Node, drillTimeout, len(ms), key)}
}

// drillStopWorker stops the first worker and checks the others still serve.
func (r *rehearsal) drillStopWorker(ctx context.Context, c *cluster) Line {
	l := Line{ID: "3d", Claim: claimStopWorker}
	if len(c.workers) < 2 {
		return l.skip("needs 2 or more workers; this cluster has %d", len(c.workers))
	}
	w := c.workers[0]
	w.stop(5 * time.Second)
	key, value, err := writeViaWorkers(ctx, c, "without-"+w.Node)
	if err != nil {
		return l.fail("%s stopped: %v", w.Node, err)
	}
	for _, o := range c.workers[1:] {
		if got, err := o.endpoint().get(ctx, key, false); err != nil || got != value {
			return l.fail("%s stopped: read via %s: %q %v", w.Node, o.Node, got, err)
		}
	}
	return l.pass("%s stopped; the other %d workers write and read back", w.Node, len(c.workers)-1)
}

// drillStopDiscovery stops the discovery endpoint and checks the cluster.
func (r *rehearsal) drillStopDiscovery(ctx context.Context, c *cluster) Line {
	l := Line{ID: "3c", Claim: claimStopDiscovery}
	if r.disc == nil {
		return l.skip("the stack's own discovery endpoint is not the rehearsal's to stop")
	}
	r.disc.stop(5 * time.Second)
	if _, _, err := writeViaWorkers(ctx, c, "without-discovery"); err != nil {
		return l.fail("discovery stopped: %v", err)
	}
	for _, n := range c.central {
		if !n.running() {
			continue
		}
		if err := n.endpoint().healthy(ctx); err != nil {
			return l.fail("discovery stopped: %s: %v", n.Node, err)
		}
	}
	return l.pass("discovery stopped; every running worker writes, every member healthy")
}

// demoWrongSize boots the program's central nodes on a token sized
// centralCount+2 and shows the bootstrap never completes.
func (r *rehearsal) demoWrongSize(ctx context.Context, name string, args components.ClusterArgs) Line {
	l := Line{ID: "4a", Claim: claimWrongSize}
	size := args.CentralCount + 2
	args.DiscoveryURL, args.WorkerCount = newTokenURL(r.disc.addr), 0
	if err := r.disc.setSize(ctx, args.DiscoveryURL, size); err != nil {
		return l.fail("token: %v", err)
	}
	refusal, d, err := r.bootDemo(name, args, r.block+1, 0)
	if err != nil {
		return l.fail("%v", err)
	}
	defer r.stopAll(d)
	wait := 8 * time.Second
	healthy := ""
	_ = retry(ctx, wait, func() error {
		for _, n := range d.central {
			if n.endpoint().healthy(ctx) == nil {
				healthy = n.Node
				return nil
			}
		}
		return fmt.Errorf("none healthy")
	})
	reg, _ := r.disc.registered(ctx, args.DiscoveryURL)
	if healthy != "" {
		return l.fail("token size %d, %d central: %s became healthy", size, len(d.central), healthy)
	}
	return l.pass("token size %d, %d central nodes: the program refuses it (%s); booted anyway, %d registered and no member serves after %s: bootstrap waits for members that never come",
		size, len(d.central), refusal, reg, wait)
}

// demoUsedToken boots central node 0 of another stack on the running
// cluster's token, whose members are all registered: a reused token.
func (r *rehearsal) demoUsedToken(ctx context.Context, c *cluster, stack string, args components.ClusterArgs) Line {
	l := Line{ID: "4b", Claim: claimUsedToken}
	name := components.ClusterName(stack + "-reuse")
	args.DiscoveryURL, args.WorkerCount = c.discoveryURL, 0
	refusal, d, err := r.bootDemo(name, args, r.block+2, 1)
	if err != nil {
		return l.fail("%v", err)
	}
	defer r.stopAll(d)
	n := d.central[0]
	outcome, err := proxyOrExit(ctx, n, 0)
	if err != nil {
		return l.fail("%s on the used token: %v", n.Node, err)
	}
	ms, err := c.central[1].endpoint().members(ctx)
	if err != nil {
		return l.fail("member list: %v", err)
	}
	if memberAt(ms, n.Addr) != "" {
		return l.fail("%s joined %s as a member", n.Node, c.plan.Cluster)
	}
	return l.pass("the program refuses %s's token for %s (%s); booted anyway, would-be member %s %s, and %s still has %d members",
		c.plan.Cluster, name, refusal, n.Node, outcome, c.plan.Cluster, len(ms))
}

// bootDemo runs the program for args with its discovery pre-flight check,
// which must refuse the token, then without it, and starts the first start
// (0: all) central nodes on address block without waiting for them. It
// returns the refusal's first line.
func (r *rehearsal) bootDemo(name string, args components.ClusterArgs, block, start int) (string, *cluster, error) {
	args.SkipDiscoveryCheck = false
	_, err := UserData(name, args)
	if err == nil {
		return "", nil, fmt.Errorf("the program's discovery pre-flight check accepted the token")
	} else if !errors.As(err, new(ConfigError)) {
		return "", nil, err
	}
	msg := strings.TrimSpace(err.Error())
	refusal := msg[strings.LastIndex(msg, "\n")+1:]
	args.SkipDiscoveryCheck = true
	plan, err := UserData(name, args)
	if err != nil {
		return "", nil, err
	}
	nodes, err := prepare(plan, block)
	if err != nil {
		return "", nil, err
	}
	c := &cluster{plan: plan, discoveryURL: args.DiscoveryURL}
	c.central, c.workers = split(nodes)
	if start == 0 {
		start = len(c.central)
	}
	for _, n := range c.central[:start] {
		n.proc = &proc{name: n.Node, dir: filepath.Join(r.dir, fmt.Sprintf("block-%d", block), n.Node), bin: r.bin, args: n.Args, env: n.Env}
		if err := r.startProc(n.proc); err != nil {
			return "", nil, err
		}
	}
	c.central = c.central[:start]
	return refusal, c, nil
}

// stopAll stops every started process of c.
func (r *rehearsal) stopAll(c *cluster) {
	for _, n := range append(slices.Clone(c.central), c.workers...) {
		n.stop(5 * time.Second)
	}
}
