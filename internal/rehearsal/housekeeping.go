package rehearsal

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodeboot"
	"github.com/isolatedetcd/cluster/internal/nodescript"
	"github.com/isolatedetcd/cluster/internal/plan"
)

var (
	claimMetrics = claim{id: "9a", title: "metrics listeners answer",
		text: "every member's metrics listener (plain HTTP on the metrics port) serves /metrics, holding every etcd metric the alerting rules read (monitoring/metric-names.txt), and /health and /readyz report ready, on the member's private address; every grpc-proxy worker's serves its own /proxy/metrics and /health on its own"}
	claimDefrag = claim{id: "9b", title: "defrag: one at a time, leader last",
		text: "the defragmentation script central nodes' timers run, as rendered, run on two central nodes at once while a client writes through a worker: one run defragments every member, followers first and the leader last, one at a time, each file smaller; the other waits for its lock and finds nothing to do; every acknowledged write reads back"}
	claimNoSpace = claim{id: "9c", title: "NOSPACE recovered by the defrag unit",
		text: "with the NOSPACE alarm raised, a write through a worker is refused; the defragmentation unit, started by hand as docs/operations.md says, compacts, defragments and disarms, and writes through every worker resume"}
)

var claimDefragLoud = claim{id: "9e", title: "a failed defrag run fails its unit",
	text: "with a member stopped, the defragmentation script exits non-zero before it defragments anything, and its output says a member does not answer"}

// housekeepingLines runs lines 9 on the booted cluster.
func (r *rehearsal) housekeepingLines(ctx context.Context, c *localetcd.Nodes, args components.ClusterArgs) []Line {
	lines := []Line{proveMetrics(ctx, c, r.project), claimDefrag.line(), claimNoSpace.line(), r.proveChurn(ctx, c, args), claimDefragLoud.line()}
	scripts := []int{1, 2, 4}
	all := func(with func(Line, string, ...any) Line, format string, v ...any) []Line {
		for _, i := range scripts {
			lines[i] = with(lines[i], format, v...)
		}
		return lines
	}
	if c.Plan.Flavor != cloudconfig.Flatcar {
		return all(Line.skip, "etcd2 has no v3 defragmentation")
	}
	if err := nodescript.Available(); err != nil {
		return all(Line.skip, "not run: the nodes' scripts run in mount namespaces: %v", err)
	}
	tools, err := nodescript.Build(ctx, []string{c.Central[0].Release}, r.log)
	if err != nil {
		return all(Line.fail, "the images' tools: %v", err)
	}
	d := &defragDrill{c: c, tools: tools}
	lines[1] = d.defrag(ctx, lines[1])
	lines[2] = d.nospace(ctx, lines[2])
	lines[4] = d.loud(ctx, lines[4])
	return lines
}

// metricsGet fetches path from the metrics port of addr, from inside the
// cluster's lab when it has one.
func metricsGet(ctx context.Context, c *localetcd.Nodes, addr, path string) (string, error) {
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	if c.Lab != nil {
		tr.DialContext = c.Lab.DialContext
	}
	hc := &http.Client{Timeout: localetcd.RequestTimeout, Transport: tr}
	url := "http://" + net.JoinHostPort(addr, strconv.Itoa(cloudconfig.MetricsPort)) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, firstLine(string(body)))
	}
	return string(body), nil
}

// alertMetrics are the etcd metrics the alerting rules read, as their
// tests list them in the project directory; up and blackbox_exporter's
// probe_* are not etcd's.
func alertMetrics(project string) ([]string, error) {
	text, err := os.ReadFile(filepath.Join(project, "monitoring", "metric-names.txt"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range strings.Fields(string(text)) {
		if strings.HasPrefix(n, "etcd_") || strings.HasPrefix(n, "grpc_") {
			names = append(names, n)
		}
	}
	return names, nil
}

// proveMetrics is line 9a.
func proveMetrics(ctx context.Context, c *localetcd.Nodes, project string) Line {
	l := claimMetrics.line()
	if c.Plan.Flavor != cloudconfig.Flatcar {
		return l.skip("etcd2 has no metrics listener of its own")
	}
	names, err := alertMetrics(project)
	if err != nil {
		return l.fail("the alerting rules' metrics: %v", err)
	}
	series := 0
	for _, n := range c.Central {
		for path, want := range map[string]string{"/metrics": "etcd_server_has_leader 1", "/health": `"health":"true"`, "/readyz": "ok"} {
			body, err := metricsGet(ctx, c, n.Addr, path)
			if err != nil || !strings.Contains(body, want) {
				return l.fail("%s %s: %v, want %q in %q", n.Node, path, err, want, firstLine(body))
			}
			if path != "/metrics" {
				continue
			}
			series += strings.Count(body, "\n")
			for _, name := range names {
				if !regexp.MustCompile(`(?m)^` + name + `[{ ]`).MatchString(body) {
					return l.fail("%s (etcd %s) exposes no %s, which the alerting rules read", n.Node, n.Release, name)
				}
			}
		}
	}
	proxies := 0
	for _, w := range c.Workers {
		if w.Kind != nodeboot.GRPCProxy {
			continue
		}
		for path, want := range map[string]string{"/proxy/metrics": "etcd_debugging_auth_revision", "/health": `"health":"true"`} {
			if body, err := metricsGet(ctx, c, w.Addr, path); err != nil || !strings.Contains(body, want) {
				return l.fail("worker %s %s: %v, want %q in %q", w.Node, path, err, want, firstLine(body))
			}
		}
		proxies++
	}
	workers := "workers run a TCP gateway, which serves no metrics"
	if proxies > 0 {
		workers = fmt.Sprintf("%d grpc-proxy workers serve /proxy/metrics and /health", proxies)
	}
	return l.pass("%d members serve /metrics (%d lines each on average, all %d etcd metrics the alerting rules read among them), /health true and /readyz ok on port %d of their private address; %s",
		len(c.Central), series/len(c.Central), len(names), cloudconfig.MetricsPort, workers)
}

// defragDrill runs the central nodes' defragmentation script on the lab.
type defragDrill struct {
	c     *localetcd.Nodes
	tools nodescript.Tools
}

// run runs the defragmentation script of central node n.
func (d *defragDrill) run(ctx context.Context, n *localetcd.Node) (string, error) {
	if !slices.ContainsFunc(n.Scripts, func(s nodeboot.Script) bool { return s.Path == cloudconfig.DefragScript && s.Schedule != "" }) {
		return "", fmt.Errorf("%s: no timer starts %s", n.Node, cloudconfig.DefragScript)
	}
	host, _, err := net.SplitHostPort(n.Endpoint().Addr)
	if err != nil {
		return "", err
	}
	return nodescript.Run(ctx, d.tools, nodescript.Node{Dir: n.Proc.Dir(), Addr: host, Lab: d.c.Lab}, cloudconfig.DefragScript)
}

// client is a gRPC client of member n as the operator reaches it.
func (d *defragDrill) client(n *localetcd.Node) (*clientv3.Client, error) {
	var tc *tls.Config
	if d.c.Plan.TLS != nil {
		var err error
		if tc, err = d.c.Plan.TLS.ClientConfig(); err != nil {
			return nil, err
		}
	}
	cfg := clientv3.Config{Endpoints: []string{n.Endpoint().Addr}, DialTimeout: localetcd.RequestTimeout, TLS: tc, Logger: zap.NewNop()}
	if d.c.Lab != nil {
		cfg.DialOptions = []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return d.c.Lab.DialContext(ctx, "tcp", a)
		})}
	}
	return clientv3.New(cfg)
}

// defragged is a run's line for one member it defragmented.
var defragged = regexp.MustCompile(`(?m)^(\S+) \((follower|leader)\): ([0-9]+) -> ([0-9]+) bytes$`)

// defrag is line 9b: fragmentation made (values overwritten, history
// compacted), then the script run on two central nodes at once under a
// writer.
func (d *defragDrill) defrag(ctx context.Context, l Line) Line {
	if len(d.c.Workers) == 0 || len(d.c.Central) < 2 {
		return l.skip("needs a worker to write through and two central nodes to start runs from")
	}
	cli, err := d.client(d.c.Central[0])
	if err != nil {
		return l.fail("client: %v", err)
	}
	defer cli.Close()
	value := strings.Repeat("x", 256<<10)
	var rev int64
	for i := range 40 {
		resp, err := cli.Put(ctx, fmt.Sprintf("/rehearsal/defrag/churn-%d", i%4), value)
		if err != nil {
			return l.fail("churn write %d: %v", i, err)
		}
		rev = resp.Header.Revision
	}
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		return l.fail("compact to %d: %v", rev, err)
	}
	// Pages a compaction frees count as free on a member once a later
	// commit there finds no reader holding them: a write makes one.
	for _, n := range d.c.Central {
		err := localetcd.Retry(ctx, drillTimeout, func() error {
			if _, err := cli.Put(ctx, "/rehearsal/defrag/tick", n.Node); err != nil {
				return err
			}
			st, err := cli.Status(ctx, n.Endpoint().Addr)
			if err == nil && (st.DbSize-st.DbSizeInUse)*100 < st.DbSize*int64(cloudconfig.ClusterDefrag.FreePercent) {
				err = fmt.Errorf("%s: %d bytes, %d in use", n.Node, st.DbSize, st.DbSizeInUse)
			}
			return err
		})
		if err != nil {
			return l.fail("fragmentation never showed: %v", err)
		}
	}

	// A writer through worker 0 for as long as the runs last.
	stop := make(chan struct{})
	var acked []string
	var writeErrs int
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprintf("/rehearsal/defrag/write-%05d", i)
			if err := d.c.Workers[0].Endpoint().Put(ctx, key, key); err != nil {
				writeErrs++
				continue
			}
			acked = append(acked, key)
		}
	})
	start := time.Now()
	outs, errs := make([]string, 2), make([]error, 2)
	var runs sync.WaitGroup
	for i := range 2 {
		runs.Go(func() { outs[i], errs[i] = d.run(ctx, d.c.Central[i]) })
	}
	runs.Wait()
	took := time.Since(start)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return l.fail("run on %s: %v\n%s", d.c.Central[i].Node, err, outs[i])
		}
	}

	worker, idle := -1, -1
	for i, out := range outs {
		switch n := len(defragged.FindAllString(out, -1)); {
		case n == len(d.c.Central):
			worker = i
		case n == 0 && strings.Count(out, ": left alone") == len(d.c.Central):
			idle = i
		}
	}
	if worker < 0 || idle < 0 {
		return l.fail("want one run defragmenting all %d members and the other finding nothing to do; got:\n%s\n---\n%s", len(d.c.Central), outs[0], outs[1])
	}
	var order []string
	for i, m := range defragged.FindAllStringSubmatch(outs[worker], -1) {
		before, _ := strconv.Atoi(m[3])
		after, _ := strconv.Atoi(m[4])
		if (m[2] == "leader") != (i == len(d.c.Central)-1) {
			return l.fail("run on %s defragmented %s (%s) at position %d of %d: want followers first, the leader last\n%s", d.c.Central[worker].Node, m[1], m[2], i+1, len(d.c.Central), outs[worker])
		}
		if after >= before {
			return l.fail("%s: %d -> %d bytes, not smaller", m[1], before, after)
		}
		order = append(order, fmt.Sprintf("%s %d->%d KiB", m[2], before>>10, after>>10))
	}
	for _, key := range acked {
		got, err := d.c.Central[len(d.c.Central)-1].Endpoint().Get(ctx, key, false)
		if err != nil || got != key {
			return l.fail("acknowledged write %s lost: %q %v", key, got, err)
		}
	}
	if len(acked) == 0 {
		return l.fail("no write through %s was acknowledged during the runs (%d failed)", d.c.Workers[0].Node, writeErrs)
	}
	return l.pass("runs from %s and %s at once, %.1f s: %s defragmented %s; %s waited for the lock and left all %d alone; %d writes through %s acknowledged and read back (%d refused while a member defragmented)",
		d.c.Central[0].Node, d.c.Central[1].Node, took.Seconds(), d.c.Central[worker].Node, strings.Join(order, ", "), d.c.Central[idle].Node, len(d.c.Central),
		len(acked), d.c.Workers[0].Node, writeErrs)
}

// nospace is line 9c: the alarm raised through etcd's maintenance API (as
// a member raises it at its quota), writes refused, then the script.
func (d *defragDrill) nospace(ctx context.Context, l Line) Line {
	if len(d.c.Workers) == 0 {
		return l.skip("needs a worker to write through")
	}
	cli, err := d.client(d.c.Central[0])
	if err != nil {
		return l.fail("client: %v", err)
	}
	defer cli.Close()
	st, err := cli.Status(ctx, d.c.Central[0].Endpoint().Addr)
	if err != nil {
		return l.fail("status: %v", err)
	}
	if _, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Alarm(ctx, &pb.AlarmRequest{
		Action: pb.AlarmRequest_ACTIVATE, MemberID: st.Header.MemberId, Alarm: pb.AlarmType_NOSPACE}); err != nil {
		return l.fail("raise NOSPACE: %v", err)
	}
	refusal := d.c.Workers[0].Endpoint().Put(ctx, "/rehearsal/nospace/before", "x")
	if refusal == nil || !strings.Contains(refusal.Error(), "space exceeded") {
		return l.fail("with NOSPACE raised, a write through %s: %v; want it refused (database space exceeded)", d.c.Workers[0].Node, refusal)
	}
	out, err := d.run(ctx, d.c.Central[len(d.c.Central)-1])
	if err != nil {
		return l.fail("the defrag unit on %s: %v\n%s", d.c.Central[len(d.c.Central)-1].Node, err, out)
	}
	alarms, err := cli.AlarmList(ctx)
	if err != nil || len(alarms.Alarms) > 0 {
		return l.fail("after the unit, alarms %v (%v)\n%s", alarms, err, out)
	}
	for _, w := range d.c.Workers {
		if err := w.Endpoint().Put(ctx, "/rehearsal/nospace/after-"+w.Node, "x"); err != nil {
			return l.fail("after the unit, a write through %s: %v\n%s", w.Node, err, out)
		}
	}
	return l.pass("NOSPACE raised on %s; a write through %s refused (%s); the defrag unit on %s: %s; writes through all %d workers resume",
		d.c.Central[0].Node, d.c.Workers[0].Node, firstLine(refusal.Error()), d.c.Central[len(d.c.Central)-1].Node, lastLines(out, 2), len(d.c.Workers))
}

var claimChurn = claim{id: "9d", title: "churn: compaction keeps the database bounded",
	text: "a writer overwriting four keys at a steady rate on a member with a small quota: with compaction taken out of the rendered settings (the control) the member raises NOSPACE; with the rendered settings the same writer, for twice as long, never does, and the database stays under the quota"}

// Churn run settings: a 16 MiB quota (the least the program allows), one
// second of history, and a writer of 32 KiB values at 100 writes a second,
// which fills the quota in about five seconds unless history is compacted.
const (
	churnQuotaMiB  = components.MinQuotaBackendMiB
	churnRetention = "1s"
	churnValue     = 32 << 10
	churnInterval  = 10 * time.Millisecond
	// churnLimit bounds the control run: it must hit NOSPACE well before.
	churnLimit = 4 * churnQuotaMiB << 20 / churnValue
)

// churnResult is one run of the writer.
type churnResult struct {
	writes  int
	nospace bool
	maxSize int64
}

// proveChurn is line 9d: two one-member clusters of the program's user
// data with a small quota, on an address block of their own, one after the
// other.
func (r *rehearsal) proveChurn(ctx context.Context, c *localetcd.Nodes, args components.ClusterArgs) Line {
	l := claimChurn.line()
	if c.Plan.Flavor != cloudconfig.Flatcar {
		return l.skip("etcd2 has no v3 compaction or quota")
	}
	off := false
	args.CentralCount, args.WorkerCount, args.TLS, args.PlaintextAcknowledged, args.Backup = 1, 0, &off, true, &off
	args.WorkerProxy, args.RestoreFrom, args.DiscoveryURL, args.Bootstrap = string(cloudconfig.Gateway), "", "", components.BootstrapStatic
	args.BackupCopyRegion, args.RestoreFromCopy, args.BackupRevisionThreshold = "", false, 0
	args.QuotaBackendMiB, args.CompactionRetention = churnQuotaMiB, churnRetention
	control, err := r.churn(ctx, c.Plan.Cluster+"-churn", args, "control", 0)
	if err != nil {
		return l.fail("control run: %v", err)
	}
	if !control.nospace {
		return l.fail("control run without compaction: no NOSPACE after %d writes of %d KiB (max database %d KiB)", control.writes, churnValue>>10, control.maxSize>>10)
	}
	rendered, err := r.churn(ctx, c.Plan.Cluster+"-churn", args, "rendered", 2*control.writes)
	if err != nil {
		return l.fail("rendered run: %v", err)
	}
	if rendered.nospace || rendered.maxSize >= churnQuotaMiB<<20 {
		return l.fail("with the rendered settings: NOSPACE %v after %d writes, max database %d KiB of a %d MiB quota", rendered.nospace, rendered.writes, rendered.maxSize>>10, churnQuotaMiB)
	}
	return l.pass("quota %d MiB, %d KiB values every %s: without compaction NOSPACE after %d writes (database %d KiB); with the rendered settings (compactionRetention %s) %d writes, no NOSPACE, database at most %d KiB",
		churnQuotaMiB, churnValue>>10, churnInterval, control.writes, control.maxSize>>10, churnRetention, rendered.writes, rendered.maxSize>>10)
}

// churn boots the one member of args on address block r.Block+1 (the
// control with etcd's compaction off, as without the rendered setting),
// writes until NOSPACE or writes (0: churnLimit), and stops it.
func (r *rehearsal) churn(ctx context.Context, name string, args components.ClusterArgs, run string, writes int) (churnResult, error) {
	var res churnResult
	pl, err := plan.Read(name, args)
	if err != nil {
		return res, err
	}
	d, err := localetcd.Prepare(pl, r.Block+1, "")
	if err != nil {
		return res, err
	}
	n := d.Central[0]
	if n.Getenv("ETCD_AUTO_COMPACTION_RETENTION") != churnRetention || n.Getenv("ETCD_QUOTA_BACKEND_BYTES") != strconv.Itoa(churnQuotaMiB<<20) {
		return res, fmt.Errorf("the rendered member has retention %q and quota %q", n.Getenv("ETCD_AUTO_COMPACTION_RETENTION"), n.Getenv("ETCD_QUOTA_BACKEND_BYTES"))
	}
	if run == "control" {
		n.Process = n.Process.WithEnv(map[string]string{"ETCD_AUTO_COMPACTION_RETENTION": "0"})
	}
	n.Proc = localetcd.NewProc(n.Node, filepath.Join(r.Dir, "churn-"+run, n.Node), r.Bin(n.Release), n.Args, n.Env)
	if err := r.Start(n.Proc); err != nil {
		return res, err
	}
	defer n.Stop(5 * time.Second)
	if err := localetcd.Retry(ctx, drillTimeout, func() error { return n.Endpoint().Healthy(ctx) }); err != nil {
		return res, fmt.Errorf("%s did not start: %v", n.Node, err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n.Endpoint().Addr}, DialTimeout: localetcd.RequestTimeout, Logger: zap.NewNop()})
	if err != nil {
		return res, err
	}
	defer cli.Close()
	if writes == 0 {
		writes = churnLimit
	}
	value := strings.Repeat("c", churnValue)
	tick := time.NewTicker(churnInterval)
	defer tick.Stop()
	for res.writes < writes {
		<-tick.C
		_, err := cli.Put(ctx, fmt.Sprintf("/rehearsal/churn/%d", res.writes%4), value)
		if err != nil && strings.Contains(err.Error(), "database space exceeded") {
			res.nospace = true
			break
		}
		if err != nil {
			return res, fmt.Errorf("write %d: %v", res.writes, err)
		}
		res.writes++
		if res.writes%10 == 0 {
			st, err := cli.Status(ctx, n.Endpoint().Addr)
			if err != nil {
				return res, err
			}
			res.maxSize = max(res.maxSize, st.DbSize)
		}
	}
	st, err := cli.Status(ctx, n.Endpoint().Addr)
	if err != nil {
		return res, err
	}
	res.maxSize = max(res.maxSize, st.DbSize)
	return res, nil
}

// loud is line 9e: the script run with the last member stopped.
func (d *defragDrill) loud(ctx context.Context, l Line) Line {
	if len(d.c.Central) < 3 {
		return l.skip("needs three central nodes, one to stop")
	}
	n := d.c.Central[len(d.c.Central)-1]
	n.Stop(5 * time.Second)
	out, err := d.run(ctx, d.c.Central[0])
	if startErr := n.Start(); startErr != nil {
		return l.fail("restart %s: %v", n.Node, startErr)
	}
	if err := localetcd.Retry(ctx, drillTimeout, func() error { return n.Endpoint().Healthy(ctx) }); err != nil {
		return l.fail("%s did not come back: %v", n.Node, err)
	}
	switch {
	case err == nil:
		return l.fail("with %s stopped, the unit succeeded:\n%s", n.Node, out)
	case !strings.Contains(out, "a member does not answer"):
		return l.fail("with %s stopped, the unit failed (%v) without saying a member does not answer:\n%s", n.Node, err, out)
	case strings.Contains(out, "Finished defragmenting"):
		return l.fail("with %s stopped, the unit defragmented a member first:\n%s", n.Node, out)
	}
	return l.pass("with %s stopped, the unit on %s fails (%v): %s; %s restarted and healthy", n.Node, d.c.Central[0].Node, err, lastLines(out, 1), n.Node)
}
