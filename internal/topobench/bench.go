// Package topobench measures etcd on every node against isolated etcd on
// real local etcd processes, and writes the figures, plot and page of
// docs/performance.md, section 3.
package topobench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodeboot"
	"github.com/isolatedetcd/cluster/internal/plan"
)

// Topology is how a benchmarked cluster of N nodes runs etcd.
type Topology string

const (
	// Everywhere: every node a voting member, the Deis v1 default.
	Everywhere Topology = "everywhere"
	// Isolated: 3 central members; every other node a worker running the
	// flatcar flavor's local gateway.
	Isolated Topology = "isolated"
)

// Topologies in the order the bench runs and reports them.
var Topologies = []Topology{Everywhere, Isolated}

// isolatedMembers is how many voting members the isolated topology has.
const isolatedMembers = 3

// Options choose what the benchmark measures.
type Options struct {
	// Dir and Stack name the project and stack whose flatcar user data the
	// nodes run (the central nodes' for members, the gateway workers').
	Dir, Stack string
	// Sizes are the node counts N; each must be more than 3.
	Sizes []int
	// Runs per size and topology.
	Runs int
	// Warmup writes, then Writes measured sequential writes, per run.
	Warmup, Writes int
	// MaxLoad, when positive, makes the bench wait (at most LoadWait) until
	// the 1-minute load average is below it before the first run.
	MaxLoad  float64
	LoadWait time.Duration
	// BootTimeout bounds each cluster's boot; zero means 120s.
	BootTimeout time.Duration
	// Log receives progress lines; nil discards them.
	Log func(string)
}

// Result is one cluster booted, measured and torn down.
type Result struct {
	Topology Topology `json:"topology"`
	N        int      `json:"n"`
	Run      int      `json:"run"`
	// Voters is the member count; Endpoint what serves the last node's
	// local endpoint: a member or a gateway.
	Voters   int    `json:"voters"`
	Endpoint string `json:"endpoint"`
	// BootS is how long the cluster took to boot, in seconds.
	BootS float64 `json:"bootS"`
	// Sequential write latency through the last node's endpoint.
	P50Ms float64 `json:"p50Ms"`
	P99Ms float64 `json:"p99Ms"`
	// RecoveryMs runs from the leader's SIGKILL to the end of the first
	// write through the last node's endpoint that succeeded after it.
	RecoveryMs float64 `json:"recoveryMs"`
	// Attempts are the writes tried until then, one started every 10 ms.
	Attempts int `json:"attempts"`
	// Transferred tells that the last node led, so leadership was moved
	// to another member before the kill (the endpoint must survive it).
	Transferred bool `json:"transferred,omitempty"`
}

// Report is every run of one benchmark, with the machine it ran on.
type Report struct {
	Machine Machine `json:"machine"`
	Started string  `json:"started"`
	// LoadBefore is the load average (1, 5, 15 min) the first run started
	// at, after waiting LoadWaitedS for it to fall below MaxLoad; LoadAfter
	// the one after the last run.
	LoadBefore  [3]float64 `json:"loadBefore"`
	LoadWaitedS float64    `json:"loadWaitedS"`
	MaxLoad     float64    `json:"maxLoad,omitempty"`
	LoadAfter   [3]float64 `json:"loadAfter"`
	Sizes       []int      `json:"sizes"`
	RunsEach    int        `json:"runsEach"`
	Warmup      int        `json:"warmup"`
	Writes      int        `json:"writes"`
	Etcd        string     `json:"etcd"`
	Runs        []Result   `json:"runs"`
	TotalS      float64    `json:"totalS"`
}

// Tunables of one measurement.
const (
	benchValue       = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" // 64 bytes
	recoveryPoll     = 10 * time.Millisecond
	recoveryAttempt  = time.Second
	recoveryBound    = 30 * time.Second
	transferBound    = 10 * time.Second
	defaultBenchBoot = 120 * time.Second
)

// Run boots, for every size N and run, a cluster of N nodes in each
// topology on loopback, measures sequential write latency and the recovery
// from a killed leader through the last node's local endpoint, and tears it
// down. Every process and temporary directory is gone when Bench returns,
// also when ctx is cancelled.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	if o.Log == nil {
		o.Log = func(string) {}
	}
	if o.BootTimeout == 0 {
		o.BootTimeout = defaultBenchBoot
	}
	if o.Runs < 1 || o.Writes < 1 || o.Warmup < 0 || len(o.Sizes) == 0 {
		return nil, fmt.Errorf("bench: runs %d and writes %d must be positive, warmup %d not negative, sizes %v not empty", o.Runs, o.Writes, o.Warmup, o.Sizes)
	}
	for _, n := range o.Sizes {
		if n <= isolatedMembers || n > 250 {
			return nil, fmt.Errorf("bench: size %d: N must be more than %d (the isolated topology's members) and at most 250", n, isolatedMembers)
		}
	}
	// The program's rejections before anything is built or started.
	pl, err := benchPlan(o, o.Sizes[0], "http://127.0.0.1:2379/v2/keys/discovery/check")
	if err != nil {
		return nil, err
	}
	nodes, err := localetcd.Prepare(pl, 1, "")
	if err != nil {
		return nil, err
	}
	releases := nodes.Releases()
	// The clusters bootstrap through a discovery endpoint of their own.
	bins, err := localetcd.Binaries(ctx, append(slices.Clone(releases), localetcd.V2Release), o.Log)
	if err != nil {
		return nil, err
	}
	rep := &Report{Machine: ThisMachine(), Started: start.UTC().Format(time.RFC3339), Sizes: o.Sizes, RunsEach: o.Runs,
		Warmup: o.Warmup, Writes: o.Writes, Etcd: strings.Join(releases, ", "), MaxLoad: o.MaxLoad}
	t := time.Now()
	if rep.LoadBefore, err = waitLoad(ctx, o.MaxLoad, o.LoadWait, o.Log); err != nil {
		return nil, err
	}
	rep.LoadWaitedS = since(t)
	// Runs interleave sizes and topologies, so a change in the machine's
	// load spreads over all of them.
	for run := range o.Runs {
		for _, n := range o.Sizes {
			for _, topo := range Topologies {
				o.Log(fmt.Sprintf("bench run %d/%d: N=%d %s", run+1, o.Runs, n, topo))
				r, err := benchOne(ctx, bins, o, topo, n)
				if err != nil {
					return rep, fmt.Errorf("bench N=%d %s run %d: %w", n, topo, run+1, err)
				}
				r.Run = run + 1
				o.Log(fmt.Sprintf("  write p50 %.2f ms, p99 %.2f ms; leader kill to write %.0f ms", r.P50Ms, r.P99Ms, r.RecoveryMs))
				rep.Runs = append(rep.Runs, r)
			}
		}
	}
	rep.LoadAfter, _ = loadAvg()
	rep.TotalS = since(start)
	return rep, ctx.Err()
}

// benchCluster is the name every benchmarked cluster runs under.
const benchCluster = "etcd-bench"

// benchPlan is the program's flatcar user data for 3 central nodes and n-3
// gateway workers on the stack of o.
func benchPlan(o Options, n int, discoveryURL string) (*plan.Plan, error) {
	central, workers := isolatedMembers, n-isolatedMembers
	args, err := plan.StackArgs(o.Dir, o.Stack, plan.Overrides{Central: &central, Workers: &workers, Flavor: "flatcar", WorkerProxy: "gateway",
		// The line new clusters run; discovery, because etcd everywhere sizes
		// its token to every node rather than rendering three members.
		EtcdVersion: string(components.DefaultEtcdVersion), Bootstrap: components.BootstrapDiscovery, Plaintext: true})
	if err != nil {
		return nil, err
	}
	args.DiscoveryURL, args.SkipDiscoveryCheck = discoveryURL, true
	return plan.Read(benchCluster, args)
}

// benchNodes are the nodes of one topology of n nodes on block: isolated is
// the program's cluster; everywhere runs the central user data on all n
// nodes, each under its own name.
func benchNodes(pl *plan.Plan, topo Topology, n, block int) (*localetcd.Nodes, error) {
	if topo == Isolated {
		return localetcd.Prepare(pl, block, "")
	}
	c := &localetcd.Nodes{Plan: pl}
	for i := range n {
		p, err := nodeboot.Interpret(pl.Flavor, pl.Central[0], localetcd.CentralAddr(block, i), nil)
		if err != nil {
			return nil, err
		}
		p.Node = benchCluster + "-node-" + strconv.Itoa(i)
		p = p.WithEnv(map[string]string{"ETCD_NAME": p.Node})
		c.Central = append(c.Central, &localetcd.Node{Process: p})
	}
	return c, nil
}

// benchOne boots one cluster, measures it and tears it down.
func benchOne(ctx context.Context, bins map[string]string, o Options, topo Topology, n int) (Result, error) {
	res := Result{Topology: topo, N: n}
	block, err := localetcd.FreeBlock()
	if err != nil {
		return res, err
	}
	r, err := localetcd.NewHost(bins, block, o.BootTimeout)
	if err != nil {
		return res, err
	}
	defer r.Close()
	tokenURL := localetcd.NewTokenURL(localetcd.DiscoveryAddr(block))
	pl, err := benchPlan(o, n, tokenURL)
	if err != nil {
		return res, err
	}
	c, err := benchNodes(pl, topo, n, block)
	if err != nil {
		return res, err
	}
	res.Voters = len(c.Central)
	t := time.Now()
	if err := r.StartDiscovery(ctx, tokenURL, res.Voters); err != nil {
		return res, err
	}
	if err := r.Boot(ctx, c); err != nil {
		return res, err
	}
	res.BootS = since(t)
	all := append(slices.Clone(c.Central), c.Workers...)
	last := all[len(all)-1]
	res.Endpoint = map[nodeboot.Kind]string{nodeboot.Member: "member", nodeboot.Gateway: "gateway", nodeboot.V2Proxy: "v2 proxy"}[last.Kind]
	if ms, err := last.Endpoint().Members(ctx); err != nil || len(ms) != res.Voters {
		return res, fmt.Errorf("%d members via %s, want %d: %v", len(ms), last.Node, res.Voters, err)
	}

	// (a) Sequential writes over one kept-open connection, as a client on
	// the node keeps its connection.
	hc := &http.Client{Timeout: localetcd.RequestTimeout, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1}}
	defer hc.CloseIdleConnections()
	ep := last.Endpoint()
	if err := localetcd.Retry(ctx, firstWriteTimeout, func() error { return ep.PutWith(ctx, hc, "/bench/warmup", benchValue) }); err != nil {
		return res, fmt.Errorf("first write via %s: %w", last.Node, err)
	}
	for i := range o.Warmup {
		if err := ep.PutWith(ctx, hc, fmt.Sprintf("/bench/warmup/%d", i), benchValue); err != nil {
			return res, fmt.Errorf("warm-up write via %s: %w", last.Node, err)
		}
	}
	lat := make([]time.Duration, o.Writes)
	for i := range lat {
		t := time.Now()
		if err := ep.PutWith(ctx, hc, fmt.Sprintf("/bench/k/%d", i), benchValue); err != nil {
			return res, fmt.Errorf("write %d via %s: %w", i, last.Node, err)
		}
		lat[i] = time.Since(t)
	}
	res.P50Ms, res.P99Ms = ms(percentile(lat, 50)), ms(percentile(lat, 99))
	hc.CloseIdleConnections()

	// (b) The leader killed; the first write through the endpoint after.
	leader, transferred, err := benchLeader(ctx, c, last)
	if err != nil {
		return res, err
	}
	res.Transferred = transferred
	t0 := time.Now()
	if err := leader.Kill(5 * time.Second); err != nil {
		return res, err
	}
	d, attempts, err := firstWrite(ctx, ep, t0)
	res.Attempts = attempts
	if err != nil {
		return res, fmt.Errorf("after killing leader %s: %w", leader.Node, err)
	}
	res.RecoveryMs = ms(d)
	return res, nil
}

// benchLeader returns the leader, first moving leadership off the last node
// when it leads: the endpoint under test must outlive the kill.
func benchLeader(ctx context.Context, c *localetcd.Nodes, last *localetcd.Node) (*localetcd.Node, bool, error) {
	byID := func() (*localetcd.Node, map[string]*localetcd.Node, error) {
		st, err := c.Central[0].Endpoint().Status(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("status of %s: %w", c.Central[0].Node, err)
		}
		ms, err := c.Central[0].Endpoint().Members(ctx)
		if err != nil {
			return nil, nil, err
		}
		ids := map[string]*localetcd.Node{}
		for _, m := range ms {
			for _, n := range c.Central {
				if n.Node == m.Name {
					ids[m.ID] = n
				}
			}
		}
		if ids[st.Leader] == nil {
			return nil, nil, fmt.Errorf("leader %q is none of the members", st.Leader)
		}
		return ids[st.Leader], ids, nil
	}
	leader, ids, err := byID()
	if err != nil || leader != last {
		return leader, false, err
	}
	var target string
	for id, n := range ids {
		if n != last {
			target = id
			break
		}
	}
	if err := leader.Endpoint().TransferLeadership(ctx, target); err != nil {
		return nil, false, fmt.Errorf("move leadership off %s: %w", last.Node, err)
	}
	err = localetcd.Retry(ctx, transferBound, func() error {
		if leader, _, err = byID(); err == nil && leader == last {
			err = errors.New("the last node still leads")
		}
		return err
	})
	return leader, true, err
}

// firstWrite starts a write through ep every recoveryPoll, each bounded by
// recoveryAttempt, and returns the time from t0 to the end of the first that
// succeeds, and how many were started. Each attempt opens its own
// connection, as a client reconnects. Bounded by recoveryBound.
func firstWrite(ctx context.Context, ep localetcd.Endpoint, t0 time.Time) (time.Duration, int, error) {
	ctx, cancel := context.WithTimeout(ctx, recoveryBound)
	defer cancel()
	type result struct {
		at  time.Time
		err error
	}
	results := make(chan result, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	tick := time.NewTicker(recoveryPoll)
	defer tick.Stop()
	attempts, inFlight := 0, 0
	launch := func() {
		attempts++
		inFlight++
		key := "/bench/after-kill/" + strconv.Itoa(attempts)
		wg.Go(func() {
			actx, acancel := context.WithTimeout(ctx, recoveryAttempt)
			defer acancel()
			err := ep.Put(actx, key, benchValue)
			select {
			case results <- result{time.Now(), err}:
			case <-ctx.Done():
			}
		})
	}
	var last error
	launch()
	for {
		select {
		case res := <-results:
			inFlight--
			if res.err == nil {
				return res.at.Sub(t0), attempts, nil
			}
			last = res.err
		case <-tick.C:
			// At most one attempt per tick, and never more than one
			// attempt's time of them at once.
			if inFlight <= int(recoveryAttempt/recoveryPoll) {
				launch()
			}
		case <-ctx.Done():
			if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return 0, attempts, err
			}
			return 0, attempts, fmt.Errorf("no write succeeded within %s (%d attempts): %v", recoveryBound, attempts, last)
		}
	}
}

// percentile is the nearest-rank p-th percentile of d.
func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(float64(len(s))*p/100)) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Machine is what the bench ran on.
type Machine struct {
	CPUs   int    `json:"cpus"`
	CPU    string `json:"cpu"`
	Memory string `json:"memory"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
	// TempFS is the file system of the nodes' data directories (etcd
	// fsyncs its log there on every write).
	TempFS string `json:"tempFS"`
}

// loadAvg reads the 1, 5 and 15 minute load averages.
func loadAvg() ([3]float64, error) {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l, err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return l, fmt.Errorf("/proc/loadavg: %q", b)
	}
	for i := range l {
		if l[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return l, err
		}
	}
	return l, nil
}

// waitLoad waits, at most wait, until the 1-minute load average is below
// max (no wait when max is not positive), and returns the load it starts at.
func waitLoad(ctx context.Context, max float64, wait time.Duration, log func(string)) ([3]float64, error) {
	l, err := loadAvg()
	if err != nil || max <= 0 {
		return l, nil
	}
	deadline := time.Now().Add(wait)
	for l[0] >= max && time.Now().Before(deadline) {
		log(fmt.Sprintf("load %.2f, waiting until below %.2f (at most until %s)", l[0], max, deadline.Format(time.TimeOnly)))
		select {
		case <-ctx.Done():
			return l, ctx.Err()
		case <-time.After(min(15*time.Second, time.Until(deadline))):
		}
		if l, err = loadAvg(); err != nil {
			return l, err
		}
	}
	if l[0] >= max {
		log(fmt.Sprintf("load still %.2f after %s: measuring anyway, and recording it", l[0], wait))
	}
	return l, nil
}

// ThisMachine describes the machine the process runs on (Linux /proc).
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Kernel: strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")), TempFS: localetcd.TempFS()}
	for line := range strings.Lines(readFile("/proc/cpuinfo")) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			m.CPU = strings.TrimSpace(v)
			break
		}
	}
	for line := range strings.Lines(readFile("/proc/meminfo")) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
				m.Memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
			}
		}
	}
	return m
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// Summary is one size and topology over its runs: the median and range of
// each figure.
type Summary struct {
	Topology             Topology
	N, Voters, Runs      int
	Endpoint             string
	P50, P99, RecoveryMs Spread
}

// Spread is the median, least and greatest of a figure over runs.
type Spread struct{ Median, Min, Max float64 }

func spreadOf(v []float64) Spread {
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{m, s[0], s[len(s)-1]}
}

// Summaries are the report's runs per size and topology, by size.
func (b *Report) Summaries() []Summary {
	var out []Summary
	for _, n := range b.Sizes {
		for _, topo := range Topologies {
			var p50, p99, rec []float64
			s := Summary{Topology: topo, N: n}
			for _, r := range b.Runs {
				if r.N == n && r.Topology == topo {
					p50, p99, rec = append(p50, r.P50Ms), append(p99, r.P99Ms), append(rec, r.RecoveryMs)
					s.Voters, s.Endpoint = r.Voters, r.Endpoint
				}
			}
			if s.Runs = len(p50); s.Runs == 0 {
				continue
			}
			s.P50, s.P99, s.RecoveryMs = spreadOf(p50), spreadOf(p99), spreadOf(rec)
			out = append(out, s)
		}
	}
	return out
}

// firstWriteTimeout bounds the first write through a freshly booted cluster.
const firstWriteTimeout = 15 * time.Second

func since(t time.Time) float64 { return time.Since(t).Round(10 * time.Millisecond).Seconds() }
