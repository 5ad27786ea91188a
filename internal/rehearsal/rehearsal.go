// Package rehearsal proves the isolated topology on real etcd: it boots the
// user data the Cluster component attaches to every node as local etcd
// processes, then runs the proofs, drills and demos of the report. Linux
// only: every 127.x.y.z address is local there.
package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/components/discovery"
	"github.com/isolatedetcd/cluster/internal/gobuild"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/netlab"
	"github.com/isolatedetcd/cluster/internal/nodescript"
	"github.com/isolatedetcd/cluster/internal/plan"
)

// claimBoot is line 0: the cluster the other lines prove is there.
var claimBoot = claim{id: "0", title: "every node starts from its user data",
	text: "every node's etcd, started as its OS would start it from the user data the program renders, runs: every member healthy and every worker's endpoint answering"}

// Options choose the cluster to rehearse and what to prove.
type Options struct {
	// Dir holds Pulumi.yaml and Pulumi.<Stack>.yaml.
	Dir   string
	Stack string
	// Overrides replace stack values (the command's flags).
	Overrides plan.Overrides
	// Drills runs the fault drills (lines 3), Demos the pre-flight demos
	// (lines 4).
	Drills, Demos bool
	// Renewal runs, with the drills, lines 6d and 6e: every certificate
	// renewed, then the CA rotated, one node at a time under load.
	Renewal bool
	// Upgrade runs the upgrade drill (line 5): the cluster's members, then
	// its workers, rolled one at a time to the next etcd line with writes
	// running throughout.
	Upgrade bool
	// SkipHousekeeping leaves lines 9 (metrics, the scheduled
	// defragmentation, NOSPACE, churn: about 20 s) out of the drills; the
	// tests prove them once per etcd line and network path, not per shape.
	SkipHousekeeping bool
	// SkipRejoin leaves lines 3g (a member that lost its data rejoins by
	// itself, also under etcd's authentication: about 60 s) and 3i (the
	// join unit at a new cluster's first boot) out of the drills; the tests
	// prove them on the 3.6 TLS rows of both formats.
	SkipRejoin bool
	// SkipResize leaves line 3h (the cluster grown 3→5 by its join units
	// and shrunk back by its leave units) out of the drills; the tests
	// prove it on the 3.6 TLS row.
	SkipResize bool
	// BootTimeout bounds the boot of each cluster; zero means 60s.
	BootTimeout time.Duration
	// Log receives progress lines; nil discards them.
	Log func(string)
}

// freeBlock picks the address block a run boots on; a test sets it to one
// it has placed an obstacle in.
var freeBlock = localetcd.FreeBlock

// rehearsal is one run: the host of its processes (address blocks: the
// main cluster's, then one per pre-flight demo) and what it proves.
type rehearsal struct {
	*localetcd.Host
	// project is the project directory (Options.Dir): the stack files and
	// docs/operations.md, whose procedures the drills follow.
	project string
	log     func(string)
}

// Run rehearses the stack o names and returns the report. An error means the
// rehearsal could not run (a plan.ConfigError when the program rejects the
// settings); a proof that fails is a failed line of the report. Every process
// and temporary directory is gone when Run returns, also when ctx is
// cancelled.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	if o.BootTimeout == 0 {
		o.BootTimeout = 60 * time.Second
	}
	if o.Log == nil {
		o.Log = func(string) {}
	}
	block, err := freeBlock()
	if err != nil {
		return nil, err
	}
	name := components.ClusterName(o.Stack)
	o.Log(fmt.Sprintf("reading stack %s and rendering every node's user data", o.Stack))
	args, ownDiscovery, offline, err := settings(o, name, block)
	if err != nil {
		return nil, err
	}
	rep := &Report{Stack: o.Stack, Cluster: name, Flavor: string(args.Flavor), WorkerProxy: string(args.WorkerProxy)}
	// Each group of lines is logged as it ends: the report comes at the end.
	add := func(lines ...Line) {
		rep.add(lines...)
		o.Log(progress(lines, time.Since(start)))
	}

	// What the lines after the boot run builds in the background from now,
	// below the boot's own etcd in CPU priority.
	defer gobuild.Ahead(ctx, o.Log, later(o, offline)...)()
	t := time.Now()
	need := offline.Builds()
	if ownDiscovery && !slices.Contains(need, localetcd.V2Release) {
		need = append(need, localetcd.V2Release)
	}
	bins, err := localetcd.Binaries(ctx, need, o.Log)
	if err != nil {
		return nil, err
	}
	rep.Timings.EtcdBinary = since(t)
	host, err := localetcd.NewHost(bins, block, o.BootTimeout)
	if err != nil {
		return nil, err
	}
	defer host.Close()
	r := &rehearsal{Host: host, project: o.Dir, log: o.Log}

	// Where no lab can be made, the lines that need one say so; so does
	// this, once.
	labErr := netlab.Available()
	if labErr != nil {
		o.Log(fmt.Sprintf("no network lab here, so the lines that need one are not run: %v", labErr))
	}
	t = time.Now()
	c, err := r.prepareCluster(ctx, name, args, ownDiscovery)
	if err != nil {
		return nil, err
	}
	rep.Flavor, rep.WorkerProxy = string(c.Plan.Flavor), string(c.Plan.WorkerProxy)
	rep.Etcd, rep.Bootstrap = c.Central[0].Release, c.Plan.Bootstrap
	rep.Central, rep.Workers = len(c.Central), len(c.Workers)
	// Line 3i boots the last central node late, with its join unit.
	var late *localetcd.Node
	lateWhy := ""
	if o.Drills && !o.SkipRejoin {
		late, lateWhy = lateNode(c)
	}
	var held []*localetcd.Node
	if late != nil {
		held = append(held, late)
	}
	boot, down := r.boot(ctx, c, labErr, held...)
	add(boot)
	if o.Drills && !o.SkipRejoin {
		switch first := claimFirstBoot.line(); {
		case down != "":
			add(first.skip("%s", down))
		case late == nil:
			add(first.skip("%s", lateWhy))
		default:
			o.Log(fmt.Sprintf("a new cluster's first boot (line 3i): %s boots after the others, with its join unit", late.Node))
			first, down = r.drillFirstBoot(ctx, c, late)
			add(first)
		}
	}
	rep.Timings.Boot = since(t)

	// cluster runs the lines of claims that need the booted cluster, or
	// says why they are not run.
	cluster := func(claims []claim, run func() []Line) []Line {
		if down == "" {
			return run()
		}
		lines := make([]Line, len(claims))
		for i, cl := range claims {
			lines[i] = cl.line().skip("%s", down)
		}
		return lines
	}
	t = time.Now()
	add(cluster([]claim{claimMembers, claimKnownSettings, claimNoWorker, claimWorkerAPI, claimCrossRead}, func() []Line {
		o.Log("proving the topology (lines 1, 2)")
		return prove(ctx, c)
	})...)
	// Lines 8 need the nodes' user data only.
	o.Log("metadata firewall (lines 8): the nodes' own, against a stand-in metadata service")
	add(r.metadataLines(ctx, c)...)
	rep.Timings.Verify = since(t)
	if o.Drills {
		t = time.Now()
		add(cluster([]claim{claimStopCentral, claimRestart, claimReplace, claimReplaceOldToken, claimStopWorker}, func() []Line {
			o.Log("fault drills (lines 3): stopping, restarting and replacing nodes (about 10 s)")
			return r.drills(ctx, c)
		})...)
		rep.Timings.Drills = since(t)
	}
	if o.Drills && !o.SkipRejoin {
		t = time.Now()
		add(cluster([]claim{claimRejoin}, func() []Line {
			o.Log("a member that lost its data rejoins by itself (line 3g): its join and promotion units, a learner, then a voter, also under etcd's authentication (about 60 s)")
			return []Line{r.drillRejoin(ctx, c)}
		})...)
		rep.Timings.Drills += since(t)
	}
	if o.Drills && !o.SkipResize {
		t = time.Now()
		add(cluster([]claim{claimResize}, func() []Line {
			o.Log("the cluster grows 3→5 and shrinks back (line 3h): join, promotion and leave units, one membership change at a time")
			return []Line{r.drillResize(ctx, c, args)}
		})...)
		rep.Timings.Drills += since(t)
	}
	if o.Drills {
		// Before lines 7, whose restore leaves members with user data that
		// keeps the snapshot's authentication as it was.
		t = time.Now()
		add(cluster([]claim{claimAuth}, func() []Line {
			o.Log("etcd authentication (line 6f): turned on by the members' script, a worker's key refused what root may do (about 10 s)")
			return []Line{r.drillAuth(ctx, c)}
		})...)
		rep.Timings.Drills += since(t)
	}
	if o.Drills {
		// Before lines 6, whose renewals and rotation change the
		// certificates the restored user data would carry.
		t = time.Now()
		add(cluster([]claim{claimBackup, claimBackupLoud, claimRestore, claimRestoreRefusals, claimVerify}, func() []Line {
			o.Log("backups (lines 7): snapshots uploaded to two stores, a failing one, the revision check, the disaster drill from each store (about 30 s)")
			lines, restore := r.backupLines(ctx, c, args)
			rep.Timings.Restore = restore
			return lines
		})...)
		rep.Timings.Drills += since(t)
	}
	if o.Drills && !o.SkipHousekeeping {
		t = time.Now()
		add(cluster([]claim{claimMetrics, claimDefrag, claimNoSpace, claimChurn, claimDefragLoud}, func() []Line {
			o.Log("housekeeping (lines 9): metrics listeners, the scheduled defragmentation, NOSPACE recovery, churn on a small quota")
			return r.housekeepingLines(ctx, c, args)
		})...)
		rep.Timings.Drills += since(t)
	}
	t = time.Now()
	add(cluster([]claim{claimPlaintextRefused, claimForeignCA, claimRoguePeer, claimRenewal, claimCARotation}, func() []Line {
		o.Log("TLS (lines 6): refusals, a rogue peer, renewal, CA rotation (about 70 s with the renewals)")
		return r.tlsLines(ctx, c, &args, o.Drills, o.Drills && o.Renewal)
	})...)
	rep.Timings.Drills += since(t)
	if o.Demos {
		t = time.Now()
		o.Log("pre-flight demos (lines 4): booting on bad tokens")
		add(r.demos(ctx, c, o.Stack, args, down)...)
		rep.Timings.Demos = since(t)
	}
	if o.Drills {
		// After the demos, which need the discovery endpoint.
		t = time.Now()
		add(cluster([]claim{claimStopDiscovery}, func() []Line { return []Line{r.drillStopDiscovery(ctx, c)} })...)
		rep.Timings.Drills += since(t)
	}
	if o.Upgrade {
		// Last: it changes every node's etcd.
		t = time.Now()
		add(cluster([]claim{claimUpgrade}, func() []Line {
			o.Log("upgrade drill (line 5): rolling every node to the next etcd line under writes")
			return []Line{r.drillUpgrade(ctx, c, args)}
		})...)
		rep.Timings.Drills += since(t)
	}
	rep.Timings.Total = since(start)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("rehearsal interrupted: %w", err)
	}
	return rep, nil
}

// settings reads the stack and, when its members bootstrap through
// discovery, points it at a discovery endpoint of the rehearsal's own unless
// it names a local one. It interprets every node once without the discovery
// pre-flight check (which needs the endpoint up): bad settings and user data
// the rehearsal cannot interpret fail here, before etcd is built or anything
// started. It returns the nodes so read.
func settings(o Options, name string, block int) (components.ClusterArgs, bool, *localetcd.Nodes, error) {
	args, err := plan.StackArgs(o.Dir, o.Stack, o.Overrides)
	if err != nil {
		return args, false, nil, err
	}
	withBackupOptions(&args)
	offline := args
	offline.SkipDiscoveryCheck = true
	p, err := plan.Read(name, offline)
	own := false
	if (err != nil || p.Bootstrap == components.BootstrapDiscovery) && !isLocalURL(args.DiscoveryURL) {
		// The stack's own token, or none yet: the rehearsal mints one.
		own = true
		args.DiscoveryURL = localetcd.NewTokenURL(localetcd.DiscoveryAddr(block))
		offline.DiscoveryURL = args.DiscoveryURL
		p, err = plan.Read(name, offline)
	}
	if err != nil {
		return args, own, nil, err
	}
	c, err := localetcd.Prepare(p, block, args.DiscoveryURL)
	if err != nil {
		return args, own, nil, err
	}
	return args, own, c, nil
}

// prepareCluster starts the discovery endpoint when it is the rehearsal's,
// runs the program with its pre-flight check reading the live token, and
// interprets every node as its OS would boot it. An error means no node can
// boot.
func (r *rehearsal) prepareCluster(ctx context.Context, name string, args components.ClusterArgs, ownDiscovery bool) (*localetcd.Nodes, error) {
	if ownDiscovery {
		if err := r.StartDiscovery(ctx, args.DiscoveryURL, args.CentralCount); err != nil {
			return nil, err
		}
	}
	p, err := plan.Read(name, args)
	if err != nil {
		return nil, err
	}
	return localetcd.Prepare(p, r.Block, args.DiscoveryURL)
}

// boot boots c but held (booted late by line 3i) and returns line 0 and,
// unless every node started, why the lines that need the cluster are not
// run: the nodes that did not start, or the lab a TLS cluster needs where
// labErr says none can be made.
func (r *rehearsal) boot(ctx context.Context, c *localetcd.Nodes, labErr error, held ...*localetcd.Node) (Line, string) {
	l := claimBoot.line()
	if c.Plan.TLS != nil && labErr != nil {
		return l.skip("not run: a TLS cluster's central nodes keep their cloud addresses in a network lab: %v", labErr),
			"not run: a TLS cluster needs a network lab, and none can be made here (line 0 says why)"
	}
	r.log(fmt.Sprintf("booting %s: %d central, %d workers (%s, %s)", c.Plan.Cluster, len(c.Central), len(c.Workers), c.Plan.Flavor, c.Plan.WorkerProxy))
	start := time.Now()
	err := r.Boot(ctx, c, held...)
	var be *localetcd.BootError
	switch {
	case err == nil:
		where := "on this machine's loopback"
		if c.Lab != nil {
			where = "the central nodes at their cloud addresses in a network lab"
			if outside, ok := netlab.Outside(); ok {
				where += fmt.Sprintf(" of a user namespace of the rehearsal's own (uid %s outside)", outside)
			}
		}
		for _, n := range held {
			where += fmt.Sprintf(" (%s held back, to boot late: line 3i)", n.Node)
		}
		return l.pass("%d central + %d workers started from their user data, %s: every member healthy, every worker answering, in %.1f s",
			len(c.Central), len(c.Workers), where, time.Since(start).Seconds()), ""
	case errors.As(err, &be) && len(be.Down()) > 0:
		return l.fail("%v", err), "not run: " + didNotStart(be.Down())
	default:
		return l.fail("%v", err), "not run: the cluster did not boot (line 0)"
	}
}

// didNotStart says which nodes did not start, naming at most three.
func didNotStart(nodes []string) string {
	if len(nodes) > 3 {
		return fmt.Sprintf("%s and %d more nodes did not start", strings.Join(nodes[:3], ", "), len(nodes)-3)
	}
	return strings.Join(nodes, ", ") + " did not start"
}

// prove runs lines 1 and 2 against the booted cluster.
func prove(ctx context.Context, c *localetcd.Nodes) []Line {
	return []Line{
		proveMembers(ctx, c),
		proveKnownSettings(c),
		proveNoWorkerMembers(ctx, c),
		proveWorkerEndpoints(ctx, c),
		proveCrossReads(ctx, c),
	}
}

// drills runs the fault drills of lines 3a, 3b, 3d, 3e and 3f.
func (r *rehearsal) drills(ctx context.Context, c *localetcd.Nodes) []Line {
	lines := r.drillStopCentral(ctx, c)
	lines = append(lines, r.drillReplaceCentral(ctx, c)...)
	return append(lines, r.drillStopWorker(ctx, c))
}

// demos runs the pre-flight demos of lines 4, which mint tokens on the
// rehearsal's own discovery endpoint, when it started one. The wrong-size
// token boots a cluster of its own; the used token needs the rehearsed
// cluster's, which down, when set, says is not there.
func (r *rehearsal) demos(ctx context.Context, c *localetcd.Nodes, stack string, args components.ClusterArgs, down string) []Line {
	if r.Discovery == nil {
		why := "the stack's own discovery endpoint is not the rehearsal's to mint tokens on"
		if c.Plan.Bootstrap == components.BootstrapStatic {
			why = "static bootstrap: no discovery token to misuse"
		}
		return []Line{claimWrongSize.line().skip("%s", why), claimUsedToken.line().skip("%s", why)}
	}
	used := claimUsedToken.line().skip("%s", down)
	if down == "" {
		used = r.demoUsedToken(ctx, c, stack, args)
	}
	return []Line{r.demoWrongSize(ctx, c.Plan.Cluster, args), used}
}

// later are the builds the lines after the boot run, in the order they run
// them: the images' tools for the backup drills, the next line's etcd for
// the upgrade. c is the cluster as settings reads it.
func later(o Options, c *localetcd.Nodes) []gobuild.Command {
	var cmds []gobuild.Command
	if o.Drills && c.Plan.BackupBucket != "" && nodescript.Available() == nil {
		tools, err := nodescript.Commands([]string{c.Central[0].Release})
		if err == nil {
			cmds = append(cmds, tools...)
		}
	}
	from, _ := cloudconfig.EtcdVersionOf(c.Central[0].Release)
	if to, ok := nextLine[from]; o.Upgrade && ok {
		cmds = append(cmds, localetcd.Command(to.Release()))
	}
	return cmds
}

// progress says how lines went, logged while the rest still runs.
func progress(lines []Line, elapsed time.Duration) string {
	ids := map[Status][]string{}
	for _, l := range lines {
		ids[l.Status] = append(ids[l.Status], l.ID)
	}
	var parts []string
	for _, s := range []Status{Fail, Pass, Skip} {
		if len(ids[s]) > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", strings.Join(ids[s], ", "), map[Status]string{Fail: "FAIL", Pass: "pass", Skip: "not run"}[s]))
		}
	}
	what := "line"
	if len(lines) > 1 {
		what = "lines"
	}
	return fmt.Sprintf("%s %s (%s in)", what, strings.Join(parts, "; "), elapsed.Round(time.Second))
}

// isLocalURL reports whether a discovery URL points at a loopback address.
func isLocalURL(raw string) bool {
	u, err := discovery.ParseURL(raw)
	return err == nil && u.Loopback()
}

func since(t time.Time) float64 { return time.Since(t).Round(10 * time.Millisecond).Seconds() }
