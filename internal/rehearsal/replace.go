package rehearsal

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/components/discovery"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodeboot"
)

var (
	claimReplace         = claim{id: "3e", title: "lost member replaced as the docs say", text: "a member whose data is lost, replaced as docs/operations.md says, is a caught-up voter again; discovery unused; the history of clients writing, reading and swapping through workers and members (the replaced one among them) throughout is linearizable"}
	claimReplaceOldToken = claim{id: "3f", title: "replacement on the old token: no voter", text: "booted on the old discovery URL instead, the replacement never becomes a voter"}
)

// operationsDoc is where the replacement procedure the drill follows is
// written, relative to the project directory.
const operationsDoc = "docs/operations.md"

// replaceProcedure is what docs/operations.md, section "Replacing a failed
// central node", tells the operator to do on the replacement node.
type replaceProcedure struct {
	// remove are the paths the operator deletes before starting etcd.
	remove []string
	// dropIn is the override written for etcd-member.service, with the
	// placeholder for member add's ETCD_INITIAL_CLUSTER still in it.
	dropIn string
}

// initialClusterPlaceholder stands for the value `etcdctl member add` prints.
const initialClusterPlaceholder = "<from member add>"

// readReplaceProcedure reads the procedure from the operations doc: the
// `sudo rm -rf` paths and the heredoc written to a drop-in of
// etcd-member.service, both in the shell block of the section.
func readReplaceProcedure(path string) (replaceProcedure, error) {
	var p replaceProcedure
	b, err := os.ReadFile(path)
	if err != nil {
		return p, err
	}
	_, section, ok := strings.Cut(string(b), "\n## Replacing a failed central node\n")
	if !ok {
		return p, fmt.Errorf("%s: no section \"Replacing a failed central node\"", path)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	const dropInDir = "/etc/systemd/system/etcd-member.service.d/"
	var dropIn []string
	inDropIn, found := false, false
	sc := bufio.NewScanner(strings.NewReader(section))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case inDropIn && line == "EOF":
			inDropIn = false
		case inDropIn:
			dropIn = append(dropIn, line)
		case strings.HasPrefix(line, "cat <<EOF | sudo tee "+dropInDir):
			if found {
				return p, fmt.Errorf("%s: two drop-ins for etcd-member.service in the replacement procedure", path)
			}
			inDropIn, found = true, true
		case strings.HasPrefix(line, "sudo rm -rf "):
			p.remove = append(p.remove, strings.Fields(strings.TrimPrefix(line, "sudo rm -rf "))...)
		}
	}
	p.dropIn = strings.Join(dropIn, "\n")
	switch {
	case !found || inDropIn:
		return p, fmt.Errorf("%s: the replacement procedure writes no complete drop-in (cat <<EOF | sudo tee %s...)", path, dropInDir)
	case strings.Count(p.dropIn, initialClusterPlaceholder) != 1:
		return p, fmt.Errorf("%s: the drop-in names %q %d times, want once", path, initialClusterPlaceholder, strings.Count(p.dropIn, initialClusterPlaceholder))
	case len(p.remove) == 0:
		return p, fmt.Errorf("%s: the replacement procedure deletes no data (sudo rm -rf ...)", path)
	}
	return p, nil
}

// clearData deletes what the procedure deletes, on the node whose data
// directory (the flavor's /var/lib/etcd) is dataDir.
func (p replaceProcedure) clearData(flavor cloudconfig.Flavor, dataDir string) error {
	base := flavor.DataDir()
	for _, path := range p.remove {
		rel, ok := strings.CutPrefix(path, base+"/")
		if !ok || rel == "" || strings.Contains(rel, "..") {
			return fmt.Errorf("rm -rf %s: not inside etcd's data directory %s", path, base)
		}
		matches, err := filepath.Glob(filepath.Join(dataDir, rel))
		if err != nil {
			return err
		}
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	return nil
}

// env is the node's own environment with the procedure's drop-in applied
// after it, as systemd applies a later drop-in.
func (p replaceProcedure) env(n *localetcd.Node, initialCluster string) ([]string, error) {
	d := strings.Replace(p.dropIn, initialClusterPlaceholder, initialCluster, 1)
	proc, err := n.Process.WithDropIn("30-replace.conf", d)
	return proc.Env, err
}

// drillReplaceCentral loses the last central member's data and replaces the
// member as the operations doc says, on the same address (AWS keeps a central
// node's private address). On the way it shows what the new machine does at
// first boot, before the operator steps in: it runs its user data, with the
// old discovery URL (line 3f).
func (r *rehearsal) drillReplaceCentral(ctx context.Context, c *localetcd.Nodes) []Line {
	replace, oldToken := claimReplace.line(), claimReplaceOldToken.line()
	skipBoth := func(format string, v ...any) []Line {
		return []Line{replace.skip(format, v...), oldToken.skip(format, v...)}
	}
	if len(c.Central) < 3 || len(c.Workers) == 0 {
		return skipBoth("needs 3 or more central nodes and a worker; this cluster has %d and %d", len(c.Central), len(c.Workers))
	}
	if c.Plan.Flavor != cloudconfig.Flatcar {
		return skipBoth("%s's procedure is written for flatcar's etcd-member.service", operationsDoc)
	}
	doc, err := readReplaceProcedure(filepath.Join(r.project, operationsDoc))
	if errors.Is(err, fs.ErrNotExist) {
		return skipBoth("%s not found in %s", operationsDoc, r.project)
	} else if err != nil {
		return []Line{replace.fail("%v", err), oldToken.skip("the procedure cannot be followed")}
	}
	i := len(c.Central) - 1
	d := &replacement{rehearsal: r, c: c, doc: doc, n: c.Central[i], healthy: c.Central[0]}
	rec := newRecorder(replace.ID)
	stopClients := rec.start(ctx, historyEndpoints(c))
	defer stopClients()
	if err := d.writeBefore(ctx); err != nil {
		return []Line{replace.fail("%v", err), oldToken.skip("the cluster does not take writes, or its token cannot be read")}
	}
	if err := d.loseNode(); err != nil {
		return []Line{replace.fail("%v", err), oldToken.skip("no failure to replace")}
	}
	oldToken = r.bootOnOldToken(ctx, c, i, doc)
	for _, step := range []func(context.Context) error{d.swapMember, d.startWithOverride, d.proveVoter, d.restartPlain} {
		if err := step(ctx); err != nil {
			return []Line{replace.fail("%v", err), oldToken}
		}
	}
	stopClients()
	rec.settle(ctx, d.n.Endpoint())
	history, ok := rec.check(c.Plan.Cluster, replace.ID)
	if !ok {
		return []Line{replace.fail("%s", history), oldToken}
	}
	return []Line{replace.pass("%s; %s's data deleted; member remove %s + member add (same name, %s), started empty with the doc's override (ETCD_INITIAL_CLUSTER=%s, state existing): member %s, one of %d started voters, has %s written before, every worker writes; %s; restarted without the override, still member %s",
		history, d.n.Node, d.removedID, strings.Join(d.peerURLs, ","), d.initialCluster, d.added.ID, len(c.Central), d.key, d.token, d.added.ID), oldToken}
}

// replacement is one run of the member-replacement drill: the node that
// loses its data, and what each step learns for the next.
type replacement struct {
	*rehearsal
	c          *localetcd.Nodes
	doc        replaceProcedure
	n, healthy *localetcd.Node

	key, value     string // written before the failure
	regBefore      int    // registrations under the token before; -1 unknown
	removedID      string
	added          localetcd.Member
	peerURLs       []string
	initialCluster string
	logFrom        int64  // where the replacement's own log starts
	token          string // what the drill saw of the discovery token
}

// writeBefore writes a key the replacement must catch up on, and counts the
// token's registrations, which the replacement must leave alone.
func (d *replacement) writeBefore(ctx context.Context) error {
	d.key, d.value = "/rehearsal/before-replacing/"+d.n.Node, "written before "+d.n.Node+" lost its data"
	w := d.c.Workers[0]
	if err := localetcd.Retry(ctx, drillTimeout, func() error { return w.Endpoint().Put(ctx, d.key, d.value) }); err != nil {
		return fmt.Errorf("put via %s: %v", w.Node, err)
	}
	d.regBefore = -1
	if d.Discovery != nil {
		n, err := d.Discovery.Registered(ctx, d.c.DiscoveryURL)
		if err != nil {
			return fmt.Errorf("registrations under the token: %v", err)
		}
		d.regBefore = n
	}
	return nil
}

// loseNode is the failure: the machine and its data volume are gone.
func (d *replacement) loseNode() error {
	d.n.Stop(5 * time.Second)
	if err := os.RemoveAll(d.n.DataDir()); err != nil {
		return fmt.Errorf("lose %s's data: %v", d.n.Node, err)
	}
	return nil
}

// swapMember is step 1, from a healthy member: remove the dead member, add
// the new one with the same name and peer URL.
func (d *replacement) swapMember(ctx context.Context) error {
	ms, err := d.healthy.Endpoint().Members(ctx)
	if err != nil {
		return fmt.Errorf("member list from %s: %v", d.healthy.Node, err)
	}
	dead := slices.IndexFunc(ms, func(m localetcd.Member) bool { return m.Name == d.n.Node })
	if dead < 0 {
		return fmt.Errorf("%s is not in the member list", d.n.Node)
	}
	d.removedID = ms[dead].ID
	// A removal whose answer timed out may have been applied: repeated,
	// it finds no such member.
	tried := false
	err = localetcd.Retry(ctx, drillTimeout, func() error {
		err := d.healthy.Endpoint().MemberRemove(ctx, d.removedID)
		if err != nil && tried && strings.Contains(err.Error(), "member not found") {
			return nil
		}
		tried = true
		return err
	})
	if err != nil {
		return fmt.Errorf("member remove %s (%s): %v", d.n.Node, d.removedID, err)
	}
	d.peerURLs = strings.Split(d.n.Getenv("ETCD_INITIAL_ADVERTISE_PEER_URLS"), ",")
	// etcd refuses to add a voter until every member has been connected for
	// 5 s ("unhealthy cluster"), as after the restart of drill 3b: repeat.
	var all []localetcd.Member
	err = localetcd.Retry(ctx, drillTimeout, func() error {
		d.added, all, err = d.healthy.Endpoint().MemberAdd(ctx, d.peerURLs)
		if err != nil && !strings.Contains(err.Error(), "unhealthy cluster") {
			return localetcd.Permanent(err)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("member add %s %v: %v", d.n.Node, d.peerURLs, err)
	}
	d.initialCluster = initialClusterOf(all, d.added.ID, d.n.Node)
	return nil
}

// startWithOverride is step 2, on the replacement node: stop etcd, delete
// what the doc deletes, write the override, start, and wait until it is the
// added member and has caught up.
func (d *replacement) startWithOverride(ctx context.Context) error {
	d.n.Stop(5 * time.Second)
	if err := d.doc.clearData(d.c.Plan.Flavor, d.n.DataDir()); err != nil {
		return fmt.Errorf("%s: %v", operationsDoc, err)
	}
	env, err := d.doc.env(d.n, d.initialCluster)
	if err != nil {
		return fmt.Errorf("%s: the override: %v", operationsDoc, err)
	}
	d.logFrom = localetcd.LogSize(d.n.Proc)
	d.n.Proc = d.n.Proc.Restarted(d.Bin(d.n.Release), d.n.Args, env)
	if err := d.Start(d.n.Proc); err != nil {
		return fmt.Errorf("start the replacement: %v", err)
	}
	if err := localetcd.Retry(ctx, drillTimeout, func() error { return d.caughtUp(ctx) }); err != nil {
		return fmt.Errorf("replacement %s not a caught-up member within %s: %v; log:\n%s", d.n.Node, drillTimeout, err, d.n.LogTail(5))
	}
	return nil
}

// caughtUp reports whether the replacement answers as the added member and
// holds, in its own copy, the key written before the failure.
func (d *replacement) caughtUp(ctx context.Context) error {
	if err := d.n.ExitError(); err != nil {
		return err
	}
	st, err := d.n.Endpoint().Status(ctx)
	if err != nil {
		return err
	}
	if st.Header.MemberID != d.added.ID {
		return fmt.Errorf("answers as member %s, want the added %s", st.Header.MemberID, d.added.ID)
	}
	got, err := d.n.Endpoint().Get(ctx, d.key, true)
	if err == nil && got != d.value {
		err = fmt.Errorf("has %q, want %q", got, d.value)
	}
	return err
}

// proveVoter checks the outcome: a voter among voters, no proxy, writes
// through every worker, and the token untouched.
func (d *replacement) proveVoter(ctx context.Context) error {
	if why := votersOnly(ctx, d.n, d.c); why != "" {
		return fmt.Errorf("after replacing %s: %s", d.n.Node, why)
	}
	if _, err := os.Stat(filepath.Join(d.n.DataDir(), "proxy")); err == nil {
		return fmt.Errorf("%s's data dir holds proxy/", d.n.Node)
	}
	if _, _, err := writeViaWorkers(ctx, d.c, "after-replacing-"+d.n.Node); err != nil {
		return fmt.Errorf("after replacing %s: %v", d.n.Node, err)
	}
	d.token = "discovery unused: the override empties ETCD_DISCOVERY"
	if d.Discovery == nil {
		return nil
	}
	regAfter, err := d.Discovery.Registered(ctx, d.c.DiscoveryURL)
	if err != nil || regAfter != d.regBefore {
		return fmt.Errorf("registrations under the token: %d before, %d after (%v)", d.regBefore, regAfter, err)
	}
	if u, err := discovery.ParseURL(d.c.DiscoveryURL); err == nil && strings.Contains(localetcd.LogSince(d.n.Proc, d.logFrom), u.Token) {
		return fmt.Errorf("the replacement's log names the discovery token")
	}
	d.token = fmt.Sprintf("the token still has %d registrations and the replacement's log never names it", regAfter)
	return nil
}

// restartPlain is step 3: the override removed, the member restarts from
// its data as the node's own user data starts it.
func (d *replacement) restartPlain(ctx context.Context) error {
	d.n.Stop(5 * time.Second)
	d.n.Proc = d.n.Proc.Restarted(d.Bin(d.n.Release), d.n.Args, d.n.Env)
	if err := d.Start(d.n.Proc); err != nil {
		return fmt.Errorf("restart without the override: %v", err)
	}
	if err := localetcd.Retry(ctx, drillTimeout, func() error { return d.caughtUp(ctx) }); err != nil {
		return fmt.Errorf("%s restarted without the override: %v; log:\n%s", d.n.Node, err, d.n.LogTail(5))
	}
	return nil
}

// initialClusterOf is ETCD_INITIAL_CLUSTER as `etcdctl member add` prints
// it: every member's name=peerURL, the added member under its new name.
func initialClusterOf(members []localetcd.Member, addedID, name string) string {
	var conf []string
	for _, m := range members {
		mn := m.Name
		if m.ID == addedID {
			mn = name
		}
		for _, u := range m.PeerURLs {
			conf = append(conf, mn+"="+u)
		}
	}
	return strings.Join(conf, ",")
}

// votersOnly checks, through n's own endpoint, that the member list is the
// program's central nodes, every one started and voting; it returns what is
// wrong, or "".
func votersOnly(ctx context.Context, n *localetcd.Node, c *localetcd.Nodes) string {
	ms, err := n.Endpoint().Members(ctx)
	if err != nil {
		return fmt.Sprintf("member list via %s: %v", n.Node, err)
	}
	return allVoters(ms, c)
}

// allVoters is why ms are not c's central nodes, each a started voter, or
// "" when they are.
func allVoters(ms []localetcd.Member, c *localetcd.Nodes) string {
	var got, want []string
	for i := range c.Central {
		want = append(want, components.CentralName(c.Plan.Cluster, i))
	}
	for _, m := range ms {
		switch {
		case m.IsLearner:
			return m.Name + " is a learner"
		case m.Name == "" || len(m.ClientURLs) == 0:
			return fmt.Sprintf("member %s %v is not started", m.ID, m.PeerURLs)
		}
		got = append(got, m.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		return fmt.Sprintf("members %v, want %v", got, want)
	}
	return ""
}

// bootOnOldToken shows what the replacement machine does with its user data
// unchanged, the old discovery URL in it: at the dead member's address (AWS),
// and at a new address (DigitalOcean). Neither may become a member. The
// procedure's deletions must leave the data dir blank after either.
func (r *rehearsal) bootOnOldToken(ctx context.Context, c *localetcd.Nodes, i int, doc replaceProcedure) Line {
	l := claimReplaceOldToken.line()
	n := c.Central[i]
	var outcomes []string
	for _, at := range []struct{ where, addr, dir string }{
		{"at its own address (AWS)", n.Addr, n.Proc.Dir()},
		{"at a new address (DigitalOcean)", localetcd.CentralAddr(r.Block, len(c.Central)), filepath.Join(r.Dir, n.Node+"-new-address")},
	} {
		p, err := nodeboot.Interpret(c.Plan.Flavor, c.Plan.Central[i], at.addr, c.Hosts)
		if err != nil {
			return l.fail("%v", err)
		}
		if p.Getenv("ETCD_DISCOVERY") == "" {
			return l.skip("%s's user data names no discovery URL", n.Node)
		}
		b := &localetcd.Node{Process: p, Proc: localetcd.NewProc(n.Node, at.dir, r.Bin(p.Release), p.Args, p.Env)}
		from := localetcd.LogSize(b.Proc)
		if err := r.Start(b.Proc); err != nil {
			return l.fail("%v", err)
		}
		outcome, err := proxyOrExit(ctx, b, from)
		b.Stop(5 * time.Second)
		if err != nil {
			return l.fail("%s %s: %v", n.Node, at.where, err)
		}
		ms, err := c.Central[0].Endpoint().Members(ctx)
		if err != nil {
			return l.fail("member list: %v", err)
		}
		// At its own address the dead member is still listed until step 1.
		if m := memberAt(ms, at.addr); m != "" && at.addr != n.Addr {
			return l.fail("%s %s joined as member %s", n.Node, at.where, m)
		}
		if err := doc.clearData(c.Plan.Flavor, b.DataDir()); err != nil {
			return l.fail("%s: %v", operationsDoc, err)
		}
		if left := leftInDataDir(b.DataDir()); left != "" {
			return l.fail("%s %s %s; the procedure's rm -rf %s leaves %s in the data dir, so etcd would start from it again",
				n.Node, at.where, outcome, strings.Join(doc.remove, " "), left)
		}
		outcomes = append(outcomes, at.where+" "+outcome)
	}
	return l.pass("%s's user data as is, on a blank disk: %s; the procedure's rm -rf %s clears what either left",
		n.Node, strings.Join(outcomes, "; "), strings.Join(doc.remove, " "))
}

// leftInDataDir names what etcd would start from in dir: member/ or proxy/.
func leftInDataDir(dir string) string {
	var left []string
	for _, d := range []string{"member", "proxy"} {
		if _, err := os.Stat(filepath.Join(dir, d)); err == nil {
			left = append(left, d+"/")
		}
	}
	return strings.Join(left, " and ")
}

// memberAt returns the name (or id) of the member whose peer URL is at addr.
func memberAt(ms []localetcd.Member, addr string) string {
	for _, m := range ms {
		for _, u := range m.PeerURLs {
			if strings.Contains(u, "//"+addr+":") {
				return cmp.Or(m.Name, m.ID)
			}
		}
	}
	return ""
}

// proxyOrExit waits until a would-be member started on a full token runs as
// a proxy or exits, and says which, with etcd's own last words for an exit
// (its log from logFrom on).
func proxyOrExit(ctx context.Context, n *localetcd.Node, logFrom int64) (string, error) {
	proxyDir := filepath.Join(n.DataDir(), "proxy")
	var outcome string
	err := localetcd.Retry(ctx, drillTimeout, func() error {
		if _, err := os.Stat(proxyDir); err == nil {
			outcome = "silently runs as a proxy (its data dir holds proxy/, not member/)"
			return nil
		}
		if err := n.ExitError(); err != nil {
			outcome = "fails: " + err.Error()
			if w := localetcd.LastWarnings(localetcd.LogSince(n.Proc, logFrom), 4); w != "" {
				outcome += " (" + w + ")"
			}
			return nil
		}
		return fmt.Errorf("still starting")
	})
	if err != nil {
		return "", fmt.Errorf("neither proxy nor failure within %s; log:\n%s", drillTimeout, n.LogTail(5))
	}
	return outcome, nil
}

// retryDone stops a retry: the error will not go away by repeating.
type retryDone struct{ err error }

func (e retryDone) Error() string { return e.err.Error() }
