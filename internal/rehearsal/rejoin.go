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
)

var claimRejoin = claim{id: "3g", title: "a member that lost its data rejoins by itself",
	text: "a member's data destroyed while clients write through workers and members: its own join unit, run before etcd as at boot, waits without changing anything while the cluster has no quorum without it, then replaces its stale entry with a learner and hands etcd the membership; the member starts as a learner, its promotion unit makes it a voter once caught up; with data again the join unit leaves it as it is; no human step, and the history throughout is linearizable"}

// noQuorumWait is how long the drill lets the join unit wait while the
// cluster has no quorum: long enough for one round of its checks (each
// other member's health and status, bounded by the script's dial and
// command timeouts).
const noQuorumWait = 12 * time.Second

// rejoin is one run of line 3g.
type rejoin struct {
	*rehearsal
	c     *localetcd.Nodes
	tools nodescript.Tools
	// n loses its data; down is stopped to take the quorum away; healthy
	// answers throughout.
	n, down, healthy *localetcd.Node
	key, value       string
}

// drillRejoin is line 3g.
func (r *rehearsal) drillRejoin(ctx context.Context, c *localetcd.Nodes) Line {
	l := claimRejoin.line()
	switch {
	case c.Plan.TLS == nil || c.Plan.Bootstrap != components.BootstrapStatic:
		return l.skip("the join unit is rendered with TLS and static bootstrap only")
	case len(c.Central) < 3 || len(c.Workers) == 0:
		return l.skip("needs 3 or more central nodes and a worker")
	}
	d := &rejoin{rehearsal: r, c: c, n: c.Central[1], down: c.Central[len(c.Central)-1], healthy: c.Central[0]}
	for _, want := range []nodeboot.Script{{Unit: "etcd-join.service", Path: cloudconfig.Join.Script, BeforeEtcd: true}, {Unit: "etcd-promote.service", Path: cloudconfig.Join.Promote, AfterEtcd: true}} {
		if !slices.Contains(d.n.Scripts, want) {
			return l.fail("%s: no unit %s runs %s (before etcd %v, after %v)", d.n.Node, want.Unit, want.Path, want.BeforeEtcd, want.AfterEtcd)
		}
	}
	if d.n.EnvFile != cloudconfig.Join.Env {
		return l.fail("%s's etcd unit reads no %s", d.n.Node, cloudconfig.Join.Env)
	}
	if err := nodescript.Available(); err != nil {
		return l.skip("not run: the nodes' scripts run in mount namespaces: %v", err)
	}
	var err error
	if d.tools, err = nodescript.Build(ctx, []string{d.n.Release}, r.log); err != nil {
		return l.fail("the images' tools: %v", err)
	}
	rec := newRecorder(l.ID)
	stopClients := rec.start(ctx, historyEndpoints(c))
	defer stopClients()
	start := time.Now()
	evidence, err := d.run(ctx)
	if err != nil {
		return l.fail("%v", err)
	}
	stopClients()
	rec.settle(ctx, d.n.Endpoint())
	history, ok := rec.check(c.Plan.Cluster, l.ID)
	if !ok {
		return l.fail("%s", history)
	}
	return l.pass("%s; %s; in %.1f s", history, evidence, time.Since(start).Seconds())
}

// run is the drill's steps; it returns what each showed.
func (d *rejoin) run(ctx context.Context) (string, error) {
	d.key, d.value = "/rehearsal/before-rejoining/"+d.n.Node, "written before "+d.n.Node+" lost its data"
	if err := localetcd.Retry(ctx, drillTimeout, func() error { return d.c.Workers[0].Endpoint().Put(ctx, d.key, d.value) }); err != nil {
		return "", fmt.Errorf("put via %s: %v", d.c.Workers[0].Node, err)
	}
	before, err := d.healthy.Endpoint().Members(ctx)
	if err != nil {
		return "", err
	}
	old := slices.IndexFunc(before, func(m localetcd.Member) bool { return m.Name == d.n.Node })
	if old < 0 {
		return "", fmt.Errorf("%s is not in the member list", d.n.Node)
	}

	// The failure: the machine comes back with a blank data volume.
	d.n.Stop(5 * time.Second)
	if err := os.RemoveAll(d.n.DataDir()); err != nil {
		return "", err
	}

	// No quorum without it: the unit waits and changes nothing. Whatever
	// happens, the lines after this one find the stopped member running.
	d.down.Stop(5 * time.Second)
	defer func() {
		if !d.down.Running() {
			d.down.Proc = d.down.Proc.Restarted(d.Bin(d.down.Release), d.down.Args, d.down.Env)
			_ = d.Start(d.down.Proc)
		}
	}()
	waitCtx, cancel := context.WithTimeout(ctx, noQuorumWait)
	out, err := d.script(waitCtx, cloudconfig.Join.Script)
	cancel()
	if err == nil || !strings.Contains(out, "no quorum without "+d.n.Node) {
		return "", fmt.Errorf("join unit without a quorum: %v, want it waiting for one:\n%s", err, out)
	}
	waited := lastLines(out, 1)
	d.down.Proc = d.down.Proc.Restarted(d.Bin(d.down.Release), d.down.Args, d.down.Env)
	if err := d.Start(d.down.Proc); err != nil {
		return "", err
	}
	if err := localetcd.Retry(ctx, drillTimeout, func() error { return d.healthy.Endpoint().Healthy(ctx) }); err != nil {
		return "", fmt.Errorf("%s back: the cluster not healthy: %v", d.down.Node, err)
	}
	if after, err := d.healthy.Endpoint().Members(ctx); err != nil || !slices.Equal(memberIDs(after), memberIDs(before)) {
		return "", fmt.Errorf("the waiting join unit changed the members: %v, was %v (%v)", after, before, err)
	}
	if d.envFile() != "" {
		return "", fmt.Errorf("the waiting join unit left %s", cloudconfig.Join.Env)
	}

	// The quorum back: the unit replaces the stale entry with a learner.
	out, err = d.script(ctx, cloudconfig.Join.Script)
	if err != nil || !strings.Contains(out, "as a learner") {
		return "", fmt.Errorf("join unit with a quorum: %v\n%s", err, out)
	}
	joined := lastLines(out, 1)
	env := d.envFile()
	p, err := d.n.Process.WithEnvFile(env)
	if err != nil {
		return "", err
	}
	if p.Getenv("ETCD_INITIAL_CLUSTER_STATE") != "existing" {
		return "", fmt.Errorf("%s holds %q: no ETCD_INITIAL_CLUSTER_STATE=existing", cloudconfig.Join.Env, env)
	}
	d.n.Proc = d.n.Proc.Restarted(d.Bin(d.n.Release), d.n.Args, p.Env)
	if err := d.Start(d.n.Proc); err != nil {
		return "", err
	}
	var learner localetcd.Member
	err = localetcd.Retry(ctx, drillTimeout, func() error {
		ms, err := d.healthy.Endpoint().Members(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(ms, func(m localetcd.Member) bool { return m.Name == d.n.Node })
		if i < 0 || !ms[i].IsLearner || ms[i].ID == before[old].ID {
			return fmt.Errorf("members %v: want %s a started learner under a new id", ms, d.n.Node)
		}
		learner = ms[i]
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("%v; log:\n%s", err, d.n.LogTail(5))
	}

	// The promotion unit, once etcd runs.
	out, err = d.script(ctx, cloudconfig.Join.Promote)
	if err != nil || !strings.Contains(out, "promoted") {
		return "", fmt.Errorf("promotion unit: %v\n%s", err, out)
	}
	if why := votersOnly(ctx, d.healthy, d.c); why != "" {
		return "", fmt.Errorf("after the promotion: %s", why)
	}
	if err := d.caughtUp(ctx); err != nil {
		return "", err
	}

	// Next boot, data present: the unit leaves it, and the member starts
	// from its data as its user data says.
	d.n.Stop(5 * time.Second)
	out, err = d.script(ctx, cloudconfig.Join.Script)
	if err != nil || !strings.Contains(out, "holds data") || d.envFile() != "" {
		return "", fmt.Errorf("join unit on a member with data: %v, %s %q\n%s", err, cloudconfig.Join.Env, d.envFile(), out)
	}
	kept := lastLines(out, 1)
	d.n.Proc = d.n.Proc.Restarted(d.Bin(d.n.Release), d.n.Args, d.n.Env)
	if err := d.Start(d.n.Proc); err != nil {
		return "", err
	}
	if err := d.caughtUp(ctx); err != nil {
		return "", fmt.Errorf("restarted from its data: %v", err)
	}
	if _, _, err := writeViaWorkers(ctx, d.c, "after-rejoining-"+d.n.Node); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s's data deleted; %s stopped too: the join unit %q, members unchanged, no %s; %s back: %q (member %s replaced by learner %s); promotion unit: voter, one of %d, holding %s; rebooted with data: %q",
		d.n.Node, d.down.Node, waited, cloudconfig.Join.Env, d.down.Node, joined, before[old].ID, learner.ID, len(d.c.Central), d.key, kept), nil
}

// scriptTimeout bounds a run of the join or promotion unit that must end.
const scriptTimeout = 3 * drillTimeout

// script runs one of n's scripts on it as its unit would.
func (d *rejoin) script(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, scriptTimeout)
	defer cancel()
	host, _, _ := net.SplitHostPort(d.n.Endpoint().Addr)
	return nodescript.Run(ctx, d.tools, nodescript.Node{Dir: d.n.Proc.Dir(), Addr: host, Lab: d.c.Lab}, path)
}

// envFile is what the join unit left n's etcd, "" when nothing.
func (d *rejoin) envFile() string {
	b, err := os.ReadFile(filepath.Join(d.n.Proc.Dir(), nodeboot.RootDir, cloudconfig.Join.Env))
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	} else if err != nil {
		return err.Error()
	}
	return string(b)
}

// caughtUp waits until n answers with the key written before it lost its
// data, from its own copy.
func (d *rejoin) caughtUp(ctx context.Context) error {
	err := localetcd.Retry(ctx, drillTimeout, func() error {
		if err := d.n.ExitError(); err != nil {
			return localetcd.Permanent(err)
		}
		got, err := d.n.Endpoint().Get(ctx, d.key, true)
		if err == nil && got != d.value {
			err = fmt.Errorf("has %q, want %q", got, d.value)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s not caught up: %v; log:\n%s", d.n.Node, err, d.n.LogTail(5))
	}
	return nil
}

// memberIDs are the members' ids, a learner's marked so.
func memberIDs(ms []localetcd.Member) []string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, fmt.Sprintf("%s learner=%v", m.ID, m.IsLearner))
	}
	slices.Sort(ids)
	return ids
}
