// Package rehearsal boots the user data the Cluster component attaches to
// every node as real etcd processes on loopback addresses, with a real
// discovery endpoint, and proves the isolated topology: a few voting members
// on the central nodes, and on every worker only a local proxy that reaches
// them. Linux only: every 127.x.y.z address is local there.
package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/isolatedetcd/cluster/components"
)

// Options choose the cluster to rehearse and what to prove.
type Options struct {
	// Dir holds Pulumi.yaml and Pulumi.<Stack>.yaml.
	Dir   string
	Stack string
	// Overrides replace stack values (the command's flags).
	Overrides Overrides
	// Drills runs the fault drills (lines 3), Demos the pre-flight demos
	// (lines 4).
	Drills, Demos bool
	// BootTimeout bounds the boot of each cluster; zero means 60s.
	BootTimeout time.Duration
	// Log receives progress lines; nil discards them.
	Log func(string)
}

// node is one node's etcd: how its OS would start it, and the process.
type node struct {
	Process
	*proc
}

func (n *node) endpoint() endpoint { return endpoint(n.Addr + ":2379") }

// cluster is one booted cluster.
type cluster struct {
	plan         *Plan
	discoveryURL string
	central      []*node
	workers      []*node
}

// rehearsal owns every process and the temporary directory.
type rehearsal struct {
	bin, dir string
	// project is the project directory (Options.Dir): the stack files and
	// docs/operations.md, whose procedures the drills follow.
	project string
	// block is the first of the three address blocks this rehearsal uses
	// (main cluster, then one per pre-flight demo).
	block       int
	disc        *discovery // nil when the stack's own local discovery URL is used
	bootTimeout time.Duration
	log         func(string)

	mu    sync.Mutex
	procs []*proc
}

// Run rehearses the stack o names and returns the report. An error means the
// rehearsal could not run (a ConfigError when the program rejects the
// settings); a proof that fails is a failed line of the report. Every process
// and temporary directory is gone when Run returns, also when ctx is
// cancelled.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	block, err := freeBlock()
	if err != nil {
		return nil, err
	}
	r := &rehearsal{block: block, project: o.Dir, bootTimeout: o.BootTimeout, log: o.Log}
	if r.bootTimeout == 0 {
		r.bootTimeout = 60 * time.Second
	}
	if r.log == nil {
		r.log = func(string) {}
	}
	args, err := StackArgs(o.Dir, o.Stack, o.Overrides)
	if err != nil {
		return nil, err
	}
	name := components.ClusterName(o.Stack)
	ownDiscovery := !isLocalURL(args.DiscoveryURL)
	if ownDiscovery {
		args.DiscoveryURL = newTokenURL(discoveryAddr(block))
	}
	// A first run without the discovery pre-flight check, which needs the
	// endpoint up: bad settings and user data the rehearsal cannot interpret
	// fail here, before etcd is built or anything started.
	offline := args
	offline.SkipDiscoveryCheck = true
	plan, err := UserData(name, offline)
	if err != nil {
		return nil, err
	}
	if _, err := prepare(plan, block); err != nil {
		return nil, err
	}

	rep := &Report{Stack: o.Stack, Cluster: name, Flavor: string(plan.Flavor), WorkerProxy: string(plan.WorkerProxy),
		Central: len(plan.Central), Workers: len(plan.Workers)}
	t := time.Now()
	if r.bin, err = EtcdBinary(ctx, r.log); err != nil {
		return nil, err
	}
	rep.Timings.EtcdBinary = since(t)
	if r.dir, err = os.MkdirTemp("", "rehearse-*"); err != nil {
		return nil, err
	}
	defer r.cleanup()

	t = time.Now()
	if ownDiscovery {
		if err := r.startDiscovery(ctx, args.DiscoveryURL, len(plan.Central)); err != nil {
			return nil, err
		}
	}
	// The program's own run, its pre-flight check reading the live token.
	if plan, err = UserData(name, args); err != nil {
		return nil, err
	}
	nodes, err := prepare(plan, block)
	if err != nil {
		return nil, err
	}
	r.log(fmt.Sprintf("booting %s: %d central, %d workers (%s, %s)", name, len(plan.Central), len(plan.Workers), plan.Flavor, plan.WorkerProxy))
	c := &cluster{plan: plan, discoveryURL: args.DiscoveryURL}
	c.central, c.workers = split(nodes)
	bootErr := r.boot(ctx, c)
	rep.Timings.Boot = since(t)

	t = time.Now()
	rep.add(proveMembers(ctx, c, bootErr))
	rep.add(proveNoWorkerMembers(ctx, c))
	rep.add(proveWorkerEndpoints(ctx, c))
	rep.add(proveCrossReads(ctx, c))
	rep.Timings.Verify = since(t)
	if o.Drills {
		t = time.Now()
		rep.add(r.drillStopCentral(ctx, c)...)
		rep.add(r.drillReplaceCentral(ctx, c)...)
		rep.add(r.drillStopWorker(ctx, c))
		rep.Timings.Drills = since(t)
	}
	if o.Demos {
		t := time.Now()
		if r.disc == nil {
			rep.add(skipped("4a", claimWrongSize, "the stack's own discovery endpoint is not the rehearsal's to mint tokens on"),
				skipped("4b", claimUsedToken, "the stack's own discovery endpoint is not the rehearsal's to mint tokens on"))
		} else {
			rep.add(r.demoWrongSize(ctx, name, args), r.demoUsedToken(ctx, c, o.Stack, args))
		}
		rep.Timings.Demos = since(t)
	}
	if o.Drills {
		// Last: the demos need the discovery endpoint.
		t = time.Now()
		rep.add(r.drillStopDiscovery(ctx, c))
		rep.Timings.Drills += since(t)
	}
	rep.Timings.Total = since(start)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("rehearsal interrupted: %w", err)
	}
	return rep, nil
}

// isLocalURL reports whether a discovery URL points at a loopback address.
func isLocalURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && raw != "" && isLoopback(u.Hostname())
}

// Addresses: block selects 127.<block>.x.y, so clusters booted side by side
// never share an address. The discovery endpoint is 127.<block>.1.1; central
// node i is 127.<block>.2.<i+1>; worker j is 127.<block>.<3+j/254>.<1+j%254>.
func discoveryAddr(block int) string  { return fmt.Sprintf("127.%d.1.1", block) }
func centralAddr(block, i int) string { return fmt.Sprintf("127.%d.2.%d", block, i+1) }
func workerAddr(block, j int) string {
	return fmt.Sprintf("127.%d.%d.%d", block, 3+j/254, 1+j%254)
}

// freeBlock picks, at random, three consecutive address blocks whose first
// addresses are free, so rehearsals running at once (two test runs, two
// people) do not collide.
func freeBlock() (int, error) {
	for range 20 {
		b := 1 + rand.IntN(250)
		free := true
		for _, a := range []string{discoveryAddr(b), centralAddr(b, 0), centralAddr(b+1, 0), centralAddr(b+2, 0)} {
			l, err := net.Listen("tcp", net.JoinHostPort(a, "2380"))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return b, nil
		}
	}
	return 0, errors.New("no free block of loopback addresses 127.x.0.0/16 found")
}

// maxWorkers is how many worker addresses a block has.
const maxWorkers = (255 - 3) * 254

// prepare interprets every node of plan on the addresses of block.
func prepare(plan *Plan, block int) ([]*node, error) {
	if len(plan.Workers) > maxWorkers {
		return nil, fmt.Errorf("%d workers: the rehearsal has addresses for %d", len(plan.Workers), maxWorkers)
	}
	central := map[string]string{}
	for i, n := range plan.Central {
		central[n.CloudIP] = centralAddr(block, i)
	}
	var nodes []*node
	var errs []error
	for i, n := range append(append([]Node{}, plan.Central...), plan.Workers...) {
		addr := centralAddr(block, i)
		if n.Role == Worker {
			addr = workerAddr(block, i-len(plan.Central))
		}
		p, err := Interpret(plan.Flavor, n, addr, central)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if want := map[Role]Kind{Central: Member, Worker: p.Kind}[n.Role]; p.Kind != want || n.Role == Worker && p.Kind == Member {
			errs = append(errs, fmt.Errorf("node %s: a %s node whose etcd would run as %s", n.Name, n.Role, p.Kind))
			continue
		}
		nodes = append(nodes, &node{Process: p})
	}
	return nodes, errors.Join(errs...)
}

func split(nodes []*node) (central, workers []*node) {
	for _, n := range nodes {
		if n.Role == Central {
			central = append(central, n)
		} else {
			workers = append(workers, n)
		}
	}
	return central, workers
}

// boot starts every node of c, central nodes first, and waits until every
// member is healthy and every worker's endpoint answers.
func (r *rehearsal) boot(ctx context.Context, c *cluster) error {
	for _, n := range append(append([]*node{}, c.central...), c.workers...) {
		n.proc = &proc{name: n.Node, dir: filepath.Join(r.dir, n.Node), bin: r.bin, args: n.Args, env: n.Env}
		if err := r.startProc(n.proc); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(r.bootTimeout)
	for _, n := range append(append([]*node{}, c.central...), c.workers...) {
		err := retry(ctx, time.Until(deadline), func() error {
			if err := n.exitError(); err != nil {
				return err
			}
			return n.endpoint().healthy(ctx)
		})
		if err != nil {
			return fmt.Errorf("%s (%s) not healthy within %s: %v; log:\n%s", n.Node, n.Addr, r.bootTimeout, err, n.logTail(8))
		}
	}
	return nil
}

// startDiscovery starts the local discovery endpoint on the rehearsal's
// block and creates the token of tokenURL for size members.
func (r *rehearsal) startDiscovery(ctx context.Context, tokenURL string, size int) error {
	r.disc = newDiscovery(r.bin, r.dir, discoveryAddr(r.block))
	if err := r.startProc(r.disc.proc); err != nil {
		return err
	}
	if err := r.disc.waitReady(ctx, 15*time.Second); err != nil {
		return err
	}
	if err := r.disc.setSize(ctx, tokenURL, size); err != nil {
		return fmt.Errorf("discovery token: %w", err)
	}
	return nil
}

// startProc starts p and remembers it for cleanup.
func (r *rehearsal) startProc(p *proc) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := p.start(); err != nil {
		return err
	}
	r.procs = append(r.procs, p)
	return nil
}

// cleanup stops every process, in parallel, and removes the directory.
func (r *rehearsal) cleanup() {
	r.mu.Lock()
	defer r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range r.procs {
		wg.Go(func() { p.stop(5 * time.Second) })
	}
	wg.Wait()
	_ = os.RemoveAll(r.dir)
}

func since(t time.Time) float64 { return time.Since(t).Round(10 * time.Millisecond).Seconds() }

// servesV2 reports whether every member serves the v2 API, and so every
// worker's proxy does too.
func (c *cluster) servesV2() bool {
	for _, n := range c.central {
		if n.Getenv("ETCD_ENABLE_V2") != "true" {
			return false
		}
	}
	return true
}
