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
	"strconv"
	"strings"
	"time"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodeboot"
	"github.com/isolatedetcd/cluster/internal/nodescript"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var claimRejoin = claim{id: "3g", title: "a member that lost its data rejoins by itself",
	text: "a member's data destroyed while clients write through workers and members: its own join unit, run before etcd as at boot, waits without changing anything while the cluster has no quorum without it, then replaces its stale entry with a learner and hands etcd the membership; the member starts as a learner, its promotion unit makes it a voter once caught up; with data again the join unit leaves it as it is; no human step, and the history throughout is linearizable; then, with etcd's authentication turned on by the members' own script, another member's data destroyed: its units, acting with its own certificate, make it a learner, then a caught-up voter again"}

// The join and promotion units as a central node's user data runs them.
var (
	joinUnit    = nodeboot.Script{Unit: "etcd-join.service", Path: cloudconfig.Join.Script, BeforeEtcd: true}
	promoteUnit = nodeboot.Script{Unit: "etcd-promote.service", Path: cloudconfig.Join.Promote, AfterEtcd: true}
)

// noQuorumWait is how long the drill lets the join unit wait while the
// cluster has no quorum: long enough for one round of its checks, one after
// another: health of the member without a quorum and of the stopped one,
// status of the stopped one, each ended by the script's 3 s command
// timeout (measured 9.1 s, also with the drill held to half a core).
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
	for _, want := range []nodeboot.Script{joinUnit, promoteUnit} {
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
	// Central nodes run no auth unit with etcdAuth false (or restoring).
	auth := fmt.Sprintf("no unit runs %s: nothing proven under authentication", cloudconfig.AuthScript)
	if slices.ContainsFunc(d.healthy.Scripts, func(s nodeboot.Script) bool { return s.Path == cloudconfig.AuthScript }) {
		if auth, err = d.underAuth(ctx); err != nil {
			return l.fail("%s; %s; %v", history, evidence, err)
		}
	}
	return l.pass("%s; %s; %s; in %.1f s", history, evidence, auth, time.Since(start).Seconds())
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

	// The quorum back: the unit replaces the stale entry with a learner,
	// and the promotion unit makes it a voter.
	joined, learner, err := d.rejoins(ctx, d.n, before[old].ID, d.healthy.Endpoint().Members)
	if err != nil {
		return "", err
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

// rejoins runs m's join unit with a quorum, starts m as the unit leaves it
// and runs its promotion unit: m, whose entry was oldID, must come back as a
// learner under a new id, then be a voter. It returns what the join unit
// said and the learner.
// members lists the members: through the HTTP gateway, or, once etcd's
// authentication is on (where the gateway ignores certificates), with the
// operator's pair.
func (d *rejoin) rejoins(ctx context.Context, m *localetcd.Node, oldID string, members func(context.Context) ([]localetcd.Member, error)) (string, localetcd.Member, error) {
	var learner localetcd.Member
	out, err := d.scriptOn(ctx, m, cloudconfig.Join.Script)
	if err != nil || !strings.Contains(out, "as a learner") {
		return "", learner, fmt.Errorf("join unit with a quorum: %v\n%s", err, out)
	}
	joined := lastLines(out, 1)
	env := envFileOf(m)
	p, err := m.Process.WithEnvFile(env)
	if err != nil {
		return "", learner, err
	}
	if p.Getenv("ETCD_INITIAL_CLUSTER_STATE") != "existing" {
		return "", learner, fmt.Errorf("%s holds %q: no ETCD_INITIAL_CLUSTER_STATE=existing", cloudconfig.Join.Env, env)
	}
	m.Proc = m.Proc.Restarted(d.Bin(m.Release), m.Args, p.Env)
	if err := d.Start(m.Proc); err != nil {
		return "", learner, err
	}
	err = localetcd.Retry(ctx, drillTimeout, func() error {
		ms, err := members(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(ms, func(x localetcd.Member) bool { return x.Name == m.Node })
		if i < 0 || !ms[i].IsLearner || ms[i].ID == oldID {
			return fmt.Errorf("members %v: want %s a started learner under a new id", ms, m.Node)
		}
		learner = ms[i]
		return nil
	})
	if err != nil {
		return "", learner, fmt.Errorf("%v; log:\n%s", err, m.LogTail(5))
	}
	out, err = d.scriptOn(ctx, m, cloudconfig.Join.Promote)
	if err != nil || !strings.Contains(out, "promoted") {
		return "", learner, fmt.Errorf("promotion unit: %v\n%s", err, out)
	}
	ms, err := members(ctx)
	if err != nil {
		return "", learner, err
	}
	if why := allVoters(ms, d.c); why != "" {
		return "", learner, fmt.Errorf("after the promotion: %s", why)
	}
	return joined, learner, nil
}

// underAuth is the drill's second part: with etcd's authentication turned
// on by the members' own script, another member loses its data and its
// units, acting with its certificate (a root user by its common name),
// replace it again; the operator's pair turns authentication off after,
// whatever happens, as line 6f does. It returns what it showed.
func (d *rejoin) underAuth(ctx context.Context) (string, error) {
	m := d.down
	a := &authDrill{c: d.c, tools: d.tools}
	out, err := nodescript.Run(ctx, a.tools, scriptNode(d.c, d.healthy), cloudconfig.AuthScript)
	if err != nil || !strings.Contains(out, "Authentication Enabled") {
		return "", fmt.Errorf("%s on %s: %v\n%s", cloudconfig.AuthScript, d.healthy.Node, err, out)
	}
	defer func() { _ = a.disable(ctx) }()
	if err := d.c.Workers[0].Endpoint().Put(ctx, "/rehearsal/rejoin/anonymous", "x"); !isAuthRefusal(err) {
		return "", fmt.Errorf("authentication on, a write through %s without credentials: %v, want it refused", d.c.Workers[0].Node, err)
	}
	op, err := a.operator()
	if err != nil {
		return "", err
	}
	defer op.Close()
	members := func(ctx context.Context) ([]localetcd.Member, error) {
		ctx, cancel := context.WithTimeout(ctx, localetcd.RequestTimeout)
		defer cancel()
		r, err := op.MemberList(ctx)
		if err != nil {
			return nil, err
		}
		var ms []localetcd.Member
		for _, x := range r.Members {
			ms = append(ms, localetcd.Member{ID: strconv.FormatUint(x.ID, 10), Name: x.Name, PeerURLs: x.PeerURLs, ClientURLs: x.ClientURLs, IsLearner: x.IsLearner})
		}
		return ms, nil
	}
	before, err := members(ctx)
	if err != nil {
		return "", err
	}
	old := slices.IndexFunc(before, func(x localetcd.Member) bool { return x.Name == m.Node })
	if old < 0 {
		return "", fmt.Errorf("%s is not in the member list", m.Node)
	}
	m.Stop(5 * time.Second)
	if err := os.RemoveAll(m.DataDir()); err != nil {
		return "", err
	}
	joined, learner, err := d.rejoins(ctx, m, before[old].ID, members)
	if err != nil {
		return "", fmt.Errorf("authentication on: %v", err)
	}
	// Caught up: its own copy holds the key written before, read with the
	// operator's pair (a root user).
	tc, err := d.c.Plan.TLS.ClientConfig()
	if err != nil {
		return "", err
	}
	own, err := a.client(m.Endpoint().Addr, tc, false)
	if err != nil {
		return "", err
	}
	defer own.Close()
	err = localetcd.Retry(ctx, drillTimeout, func() error {
		ctx, cancel := context.WithTimeout(ctx, localetcd.RequestTimeout)
		defer cancel()
		r, err := own.Get(ctx, d.key, clientv3.WithSerializable())
		if err == nil && (len(r.Kvs) != 1 || string(r.Kvs[0].Value) != d.value) {
			err = fmt.Errorf("has %v, want %q", r.Kvs, d.value)
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("authentication on: %s not caught up: %v; log:\n%s", m.Node, err, m.LogTail(5))
	}
	if err := a.disable(ctx); err != nil {
		return "", fmt.Errorf("the operator's pair could not turn authentication off: %v", err)
	}
	return fmt.Sprintf("then with authentication on (%s's %s; a write without credentials refused), %s's data deleted: %q (member %s replaced by learner %s), promoted to a voter holding %s; the operator's pair turned it off",
		d.healthy.Node, cloudconfig.AuthScript, m.Node, joined, before[old].ID, learner.ID, d.key), nil
}

// scriptTimeout bounds a run of the join or promotion unit that must end.
const scriptTimeout = 3 * drillTimeout

// script runs one of n's scripts on it as its unit would.
func (d *rejoin) script(ctx context.Context, path string) (string, error) {
	return d.scriptOn(ctx, d.n, path)
}

// scriptOn runs one of m's scripts on it as its unit would.
func (d *rejoin) scriptOn(ctx context.Context, m *localetcd.Node, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, scriptTimeout)
	defer cancel()
	return nodescript.Run(ctx, d.tools, scriptNode(d.c, m), path)
}

// scriptNode is m as nodescript runs its scripts.
func scriptNode(c *localetcd.Nodes, m *localetcd.Node) nodescript.Node {
	host, _, _ := net.SplitHostPort(m.Endpoint().Addr)
	return nodescript.Node{Dir: m.Proc.Dir(), Addr: host, Lab: c.Lab}
}

// envFile is what the join unit left n's etcd, "" when nothing.
func (d *rejoin) envFile() string { return envFileOf(d.n) }

// envFileOf is what the join unit left m's etcd, "" when nothing.
func envFileOf(m *localetcd.Node) string {
	b, err := os.ReadFile(filepath.Join(m.Proc.Dir(), nodeboot.RootDir, cloudconfig.Join.Env))
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
