// Package rehearsal proves the isolated topology on real etcd: it boots the
// user data the Cluster component attaches to every node as local etcd
// processes, then runs the proofs, drills and demos of the report. Linux
// only: every 127.x.y.z address is local there.
package rehearsal

import (
	"context"
	"fmt"
	"time"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/discovery"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/plan"
)

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
	// BootTimeout bounds the boot of each cluster; zero means 60s.
	BootTimeout time.Duration
	// Log receives progress lines; nil discards them.
	Log func(string)
}

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
	block, err := localetcd.FreeBlock()
	if err != nil {
		return nil, err
	}
	name := components.ClusterName(o.Stack)
	o.Log(fmt.Sprintf("reading stack %s and rendering every node's user data", o.Stack))
	args, ownDiscovery, releases, err := settings(o, name, block)
	if err != nil {
		return nil, err
	}
	rep := &Report{Stack: o.Stack, Cluster: name, Flavor: string(args.Flavor), WorkerProxy: string(args.WorkerProxy)}

	t := time.Now()
	bins, err := localetcd.Binaries(ctx, releases, o.Log)
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

	t = time.Now()
	c, bootErr := r.bootCluster(ctx, name, args, ownDiscovery)
	if c == nil {
		return nil, bootErr
	}
	rep.Flavor, rep.WorkerProxy = string(c.Plan.Flavor), string(c.Plan.WorkerProxy)
	rep.Etcd, rep.Bootstrap = c.Central[0].Release, c.Plan.Bootstrap
	rep.Central, rep.Workers = len(c.Central), len(c.Workers)
	rep.Timings.Boot = since(t)

	t = time.Now()
	o.Log("proving the topology (lines 1, 2)")
	rep.add(prove(ctx, c, bootErr)...)
	o.Log("metadata firewall (lines 8): the nodes' own, against a stand-in metadata service")
	rep.add(r.metadataLines(ctx, c)...)
	rep.Timings.Verify = since(t)
	if o.Drills {
		t = time.Now()
		o.Log("fault drills (lines 3): stopping, restarting and replacing nodes")
		rep.add(r.drills(ctx, c)...)
		rep.Timings.Drills = since(t)
	}
	if o.Drills {
		// Before lines 6, whose renewals and rotation change the
		// certificates the restored user data would carry.
		t = time.Now()
		o.Log("backups (lines 7): snapshots uploaded, a failing one, the disaster drill")
		lines, restore := r.backupLines(ctx, c, args)
		rep.add(lines...)
		rep.Timings.Restore = restore
		rep.Timings.Drills += since(t)
	}
	t = time.Now()
	o.Log("TLS (lines 6): refusals, a rogue peer, renewal, CA rotation")
	rep.add(r.tlsLines(ctx, c, &args, o.Drills, o.Drills && o.Renewal)...)
	rep.Timings.Drills += since(t)
	if o.Demos {
		t = time.Now()
		o.Log("pre-flight demos (lines 4): booting on bad tokens")
		rep.add(r.demos(ctx, c, o.Stack, args)...)
		rep.Timings.Demos = since(t)
	}
	if o.Drills {
		// After the demos, which need the discovery endpoint.
		t = time.Now()
		rep.add(r.drillStopDiscovery(ctx, c))
		rep.Timings.Drills += since(t)
	}
	if o.Upgrade {
		// Last: it changes every node's etcd.
		t = time.Now()
		o.Log("upgrade drill (line 5): rolling every node to the next etcd line under writes")
		rep.add(r.drillUpgrade(ctx, c, args))
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
// started. It returns the etcd releases the nodes run.
func settings(o Options, name string, block int) (components.ClusterArgs, bool, []string, error) {
	args, err := plan.StackArgs(o.Dir, o.Stack, o.Overrides)
	if err != nil {
		return args, false, nil, err
	}
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
	return args, own, c.Releases(), nil
}

// bootCluster starts the discovery endpoint when it is the rehearsal's,
// runs the program with its pre-flight check reading the live token, and
// boots every node. A nil cluster means nothing could boot; otherwise the
// error says why the boot did not complete, for the report.
func (r *rehearsal) bootCluster(ctx context.Context, name string, args components.ClusterArgs, ownDiscovery bool) (*localetcd.Nodes, error) {
	if ownDiscovery {
		if err := r.StartDiscovery(ctx, args.DiscoveryURL, args.CentralCount); err != nil {
			return nil, err
		}
	}
	p, err := plan.Read(name, args)
	if err != nil {
		return nil, err
	}
	c, err := localetcd.Prepare(p, r.Block, args.DiscoveryURL)
	if err != nil {
		return nil, err
	}
	r.log(fmt.Sprintf("booting %s: %d central, %d workers (%s, %s)", name, len(p.Central), len(p.Workers), p.Flavor, p.WorkerProxy))
	return c, r.Boot(ctx, c)
}

// prove runs lines 1 and 2 against the booted cluster.
func prove(ctx context.Context, c *localetcd.Nodes, bootErr error) []Line {
	return []Line{
		proveMembers(ctx, c, bootErr),
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
// rehearsal's own discovery endpoint, when it started one.
func (r *rehearsal) demos(ctx context.Context, c *localetcd.Nodes, stack string, args components.ClusterArgs) []Line {
	if r.Discovery == nil {
		why := "the stack's own discovery endpoint is not the rehearsal's to mint tokens on"
		if c.Plan.Bootstrap == components.BootstrapStatic {
			why = "static bootstrap: no discovery token to misuse"
		}
		return []Line{claimWrongSize.line().skip("%s", why), claimUsedToken.line().skip("%s", why)}
	}
	return []Line{r.demoWrongSize(ctx, c.Plan.Cluster, args), r.demoUsedToken(ctx, c, stack, args)}
}

// isLocalURL reports whether a discovery URL points at a loopback address.
func isLocalURL(raw string) bool {
	u, err := discovery.ParseURL(raw)
	return err == nil && u.Loopback()
}

func since(t time.Time) float64 { return time.Since(t).Round(10 * time.Millisecond).Seconds() }
