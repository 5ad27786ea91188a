package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodeboot"
	"github.com/isolatedetcd/cluster/internal/nodescript"
	"github.com/isolatedetcd/cluster/internal/plan"
)

var claimResize = claim{id: "3h", title: "the cluster grows 3→5 and shrinks back by config",
	text: "while clients write through workers and members: the two central nodes centralCount 5 adds, booted as their machines would be (join unit before etcd, promotion unit after), join one at a time: the first a learner, then a voter, the second's join unit waiting, changing nothing, while that learner is in flight; five voters; then each leaves by its etcd-leave unit, highest-numbered first, a leader handing leadership on first, and the leave refused, changing nothing, on a lower-numbered member and while a member is down; a left member's join unit refuses to start it again; three voters, the workers serving, every acknowledged write kept and the history linearizable"}

// learnerWait is how long the drill lets the second new node's join unit
// wait while the first is a learner: one round of its checks, whose peer
// answers at once.
const learnerWait = 8 * time.Second

// resize is one run of line 3h.
type resize struct {
	*rehearsal
	c     *localetcd.Nodes
	tools nodescript.Tools
	// env is what each new node's join unit left its etcd.
	env map[*localetcd.Node][]string
}

// drillResize is line 3h.
func (r *rehearsal) drillResize(ctx context.Context, c *localetcd.Nodes, args components.ClusterArgs) Line {
	l := claimResize.line()
	switch {
	case c.Plan.TLS == nil || c.Plan.Bootstrap != components.BootstrapStatic:
		return l.skip("the join and leave units are rendered with TLS and static bootstrap only")
	case len(c.Central) != 3 || len(c.Workers) == 0:
		return l.skip("needs 3 central nodes and a worker")
	}
	if err := nodescript.Available(); err != nil {
		return l.skip("not run: the nodes' scripts run in mount namespaces: %v", err)
	}
	args.CentralCount = 5
	p, err := plan.Read(c.Plan.Cluster, args)
	if err != nil {
		return l.fail("centralCount 5: %v", err)
	}
	next, err := localetcd.Prepare(p, r.Block, c.DiscoveryURL)
	if err != nil {
		return l.fail("centralCount 5: %v", err)
	}
	d := &resize{rehearsal: r, c: c, env: map[*localetcd.Node][]string{}}
	if d.tools, err = nodescript.Build(ctx, []string{c.Central[0].Release}, r.log); err != nil {
		return l.fail("the images' tools: %v", err)
	}
	rec := newRecorder(l.ID)
	stopClients := rec.start(ctx, historyEndpoints(c))
	defer stopClients()
	start := time.Now()
	evidence, err := d.run(ctx, next)
	if err != nil {
		return l.fail("%v", err)
	}
	stopClients()
	rec.settle(ctx, c.Central[0].Endpoint())
	history, ok := rec.check(c.Plan.Cluster, l.ID)
	if !ok {
		return l.fail("%s", history)
	}
	return l.pass("%s; %s; in %.1f s", history, evidence, time.Since(start).Seconds())
}

// run grows the cluster to next's central nodes and shrinks it back; it
// returns what each step showed.
func (d *resize) run(ctx context.Context, next *localetcd.Nodes) (string, error) {
	grown, err := d.grow(ctx, next)
	if err != nil {
		return "", err
	}
	shrunk, err := d.shrink(ctx, next)
	if err != nil {
		return "", err
	}
	return grown + "; " + shrunk, nil
}

// grow boots next's new central nodes as their machines would boot: join
// unit, etcd, promotion unit.
func (d *resize) grow(ctx context.Context, next *localetcd.Nodes) (string, error) {
	added, err := d.Grow(d.c, next)
	if err != nil {
		return "", err
	}
	a, b := added[0], added[1]
	for _, n := range added {
		for _, want := range []nodeboot.Script{joinUnit, promoteUnit,
			{Unit: cloudconfig.Leave.Unit, Path: cloudconfig.Leave.Script, ByOperator: true}} {
			if !slices.Contains(n.Scripts, want) {
				return "", fmt.Errorf("%s: no unit %s runs %s as %+v", n.Node, want.Unit, want.Path, want)
			}
		}
	}
	joinedA, err := d.join(ctx, a)
	if err != nil {
		return "", err
	}
	// A learner in flight: the second's join unit waits, changing nothing.
	before, err := d.c.Central[0].Endpoint().Members(ctx)
	if err != nil {
		return "", err
	}
	out, err := d.script(ctx, b, cloudconfig.Join.Script, learnerWait)
	if err == nil || !strings.Contains(out, "too many learner members") || !strings.Contains(out, "waiting") {
		return "", fmt.Errorf("%s's join unit while %s is a learner: %v, want it waiting:\n%s", b.Node, a.Node, err, out)
	}
	waited := lastLines(out, 1)
	if err := d.unchanged(ctx, before, b); err != nil {
		return "", fmt.Errorf("the waiting join unit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.Proc.Dir(), nodeboot.RootDir, cloudconfig.Join.Env)); !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("the waiting join unit left %s (%v)", cloudconfig.Join.Env, err)
	}
	if err := d.boot(ctx, a); err != nil {
		return "", err
	}
	joinedB, err := d.join(ctx, b)
	if err != nil {
		return "", err
	}
	if err := d.boot(ctx, b); err != nil {
		return "", err
	}
	if why := votersOnly(ctx, d.c.Central[0], next); why != "" {
		return "", fmt.Errorf("grown: %s", why)
	}
	return fmt.Sprintf("%s: %q; %s, meanwhile: %q, members unchanged; %s a voter, then %s: %q; 5 voters", a.Node, joinedA, b.Node, waited, a.Node, b.Node, joinedB), nil
}

// join runs n's join unit and keeps what it left n's etcd.
func (d *resize) join(ctx context.Context, n *localetcd.Node) (string, error) {
	out, err := d.script(ctx, n, cloudconfig.Join.Script, scriptTimeout)
	if err != nil || !strings.Contains(out, "as a learner") {
		return "", fmt.Errorf("%s's join unit: %v\n%s", n.Node, err, out)
	}
	env, err := os.ReadFile(filepath.Join(n.Proc.Dir(), nodeboot.RootDir, cloudconfig.Join.Env))
	if err != nil {
		return "", err
	}
	p, err := n.Process.WithEnvFile(string(env))
	if err != nil {
		return "", err
	}
	if p.Getenv("ETCD_INITIAL_CLUSTER_STATE") != "existing" {
		return "", fmt.Errorf("%s: %s holds %q", n.Node, cloudconfig.Join.Env, env)
	}
	d.env[n] = p.Env
	return lastLines(out, 1), nil
}

// boot starts n's etcd with what its join unit left, sees it a started
// learner, and runs its promotion unit.
func (d *resize) boot(ctx context.Context, n *localetcd.Node) error {
	n.Proc = n.Proc.Restarted(d.Bin(n.Release), n.Args, d.env[n])
	if err := d.Start(n.Proc); err != nil {
		return err
	}
	err := localetcd.Retry(ctx, drillTimeout, func() error {
		if err := n.ExitError(); err != nil {
			return localetcd.Permanent(err)
		}
		ms, err := d.c.Central[0].Endpoint().Members(ctx)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(ms, func(m localetcd.Member) bool { return m.Name == n.Node && m.IsLearner }) {
			return fmt.Errorf("members %v: want %s a started learner", ms, n.Node)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%v; log:\n%s", err, n.LogTail(5))
	}
	out, err := d.script(ctx, n, cloudconfig.Join.Promote, scriptTimeout)
	if err != nil || !strings.Contains(out, "promoted") {
		return fmt.Errorf("%s's promotion unit: %v\n%s", n.Node, err, out)
	}
	return nil
}

// shrink runs the leave unit on next's added nodes, highest first, with
// its refusals, then stops their machines.
func (d *resize) shrink(ctx context.Context, next *localetcd.Nodes) (string, error) {
	a, b := next.Central[3], next.Central[4]
	before, err := d.c.Central[0].Endpoint().Members(ctx)
	if err != nil {
		return "", err
	}
	// Every member answers before the refusals, whose reasons differ.
	if err := d.allHealthy(ctx, next); err != nil {
		return "", err
	}
	// A lower-numbered member first: refused.
	lower, err := d.refused(ctx, a, before, "is numbered higher")
	if err != nil {
		return "", err
	}
	// A member down: refused.
	a.Stop(5 * time.Second)
	down, err := d.refused(ctx, b, before, "not every member is healthy")
	a.Proc = a.Proc.Restarted(d.Bin(a.Release), a.Args, d.env[a])
	if serr := d.Start(a.Proc); err == nil {
		err = serr
	}
	if err != nil {
		return "", err
	}
	if err := d.allHealthy(ctx, next); err != nil {
		return "", fmt.Errorf("%s back: %v", a.Node, err)
	}
	// b leads, so its leave moves leadership first.
	if err := d.lead(ctx, next, b); err != nil {
		return "", err
	}
	leftB, err := d.leave(ctx, b)
	if err != nil {
		return "", err
	}
	out, err := d.script(ctx, b, cloudconfig.Join.Script, scriptTimeout)
	if err == nil || !strings.Contains(out, "left its cluster") {
		return "", fmt.Errorf("%s's join unit after it left (a reboot): %v, want a refusal:\n%s", b.Node, err, out)
	}
	rebooted := lastLines(out, 1)
	leftA, err := d.leave(ctx, a)
	if err != nil {
		return "", err
	}
	if why := votersOnly(ctx, d.c.Central[0], d.c); why != "" {
		return "", fmt.Errorf("shrunk: %s", why)
	}
	if _, _, err := writeViaWorkers(ctx, d.c, "after-shrinking"); err != nil {
		return "", err
	}
	return fmt.Sprintf("etcd-leave on %s: %q; on %s with %s down: %q; %s made leader, its etcd-leave: %q; its join unit at a reboot: %q; %s's: %q; 3 voters, the workers serving",
		a.Node, lower, b.Node, a.Node, down, b.Node, leftB, rebooted, a.Node, leftA), nil
}

// refused runs n's leave unit, which must refuse saying why and change
// nothing.
func (d *resize) refused(ctx context.Context, n *localetcd.Node, before []localetcd.Member, why string) (string, error) {
	out, err := d.script(ctx, n, cloudconfig.Leave.Script, scriptTimeout)
	if err == nil || !strings.Contains(out, why) {
		return "", fmt.Errorf("%s's etcd-leave: %v, want it refused (%s):\n%s\nits etcd's log:\n%s", n.Node, err, why, out, n.LogTail(5))
	}
	if err := d.unchanged(ctx, before, n); err != nil {
		return "", fmt.Errorf("%s's refused etcd-leave: %v", n.Node, err)
	}
	return lastLines(out, 1), nil
}

// leave runs n's leave unit, sees n gone from the members and its etcd
// stopped, as the unit's systemctl asked, and n's machine go.
func (d *resize) leave(ctx context.Context, n *localetcd.Node) (string, error) {
	out, err := d.script(ctx, n, cloudconfig.Leave.Script, scriptTimeout)
	if err != nil || !strings.Contains(out, " left: ") {
		return "", fmt.Errorf("%s's etcd-leave: %v\n%s\nits etcd's log:\n%s", n.Node, err, out, n.LogTail(5))
	}
	calls, err := nodescript.Systemctl(d.node(n))
	if err != nil || !slices.Equal(calls, []string{"stop etcd-member.service"}) {
		return "", fmt.Errorf("%s's etcd-leave asked systemctl %q (%v), want its etcd stopped", n.Node, calls, err)
	}
	n.Stop(5 * time.Second)
	if err := os.Remove(filepath.Join(n.Proc.Dir(), "systemctl.log")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	ms, err := d.c.Central[0].Endpoint().Members(ctx)
	if err != nil {
		return "", err
	}
	if slices.ContainsFunc(ms, func(m localetcd.Member) bool { return m.Name == n.Node }) {
		return "", fmt.Errorf("%s left, but the members are %v", n.Node, ms)
	}
	if err := localetcd.Retry(ctx, drillTimeout, func() error { return d.c.Central[0].Endpoint().Healthy(ctx) }); err != nil {
		return "", fmt.Errorf("after %s left: %v", n.Node, err)
	}
	return strings.Join(strings.Split(strings.TrimSpace(out), "\n"), " / "), nil
}

// allHealthy waits until each of next's central nodes answers healthy.
func (d *resize) allHealthy(ctx context.Context, next *localetcd.Nodes) error {
	return localetcd.Retry(ctx, drillTimeout, func() error {
		for _, n := range append(slices.Clone(d.c.Central), next.Central[len(d.c.Central):]...) {
			if err := n.Endpoint().Healthy(ctx); err != nil {
				return fmt.Errorf("%s: %v", n.Node, err)
			}
		}
		return nil
	})
}

// lead hands n leadership, from whichever of next's central nodes leads.
func (d *resize) lead(ctx context.Context, next *localetcd.Nodes, n *localetcd.Node) error {
	return localetcd.Retry(ctx, drillTimeout, func() error {
		s, err := n.Endpoint().Status(ctx)
		if err != nil {
			return err
		}
		if s.Leader == s.Header.MemberID {
			return nil
		}
		for _, m := range append(slices.Clone(d.c.Central), next.Central[len(d.c.Central):]...) {
			if ms, err := m.Endpoint().Status(ctx); err == nil && ms.Header.MemberID == s.Leader {
				_ = m.Endpoint().TransferLeadership(ctx, s.Header.MemberID)
			}
		}
		return fmt.Errorf("%s does not lead", n.Node)
	})
}

// unchanged checks the members are before, and n holds no join or leave
// leftovers.
func (d *resize) unchanged(ctx context.Context, before []localetcd.Member, n *localetcd.Node) error {
	after, err := d.c.Central[0].Endpoint().Members(ctx)
	if err != nil {
		return err
	}
	if !slices.Equal(memberIDs(after), memberIDs(before)) {
		return fmt.Errorf("members %v, were %v", after, before)
	}
	for _, f := range []string{cloudconfig.Leave.Mark} {
		if _, err := os.Stat(filepath.Join(n.Proc.Dir(), nodeboot.RootDir, f)); err == nil {
			return fmt.Errorf("%s holds %s", n.Node, f)
		}
	}
	if calls, _ := nodescript.Systemctl(d.node(n)); len(calls) > 0 {
		return fmt.Errorf("%s asked systemctl %q", n.Node, calls)
	}
	return nil
}

// script runs one of n's scripts on it as its unit would, for at most
// timeout.
func (d *resize) script(ctx context.Context, n *localetcd.Node, path string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return nodescript.Run(ctx, d.tools, d.node(n), path)
}

// node is n as nodescript runs its scripts.
func (d *resize) node(n *localetcd.Node) nodescript.Node {
	host, _, _ := net.SplitHostPort(n.Endpoint().Addr)
	return nodescript.Node{Dir: n.Proc.Dir(), Addr: host, Lab: d.c.Lab}
}
