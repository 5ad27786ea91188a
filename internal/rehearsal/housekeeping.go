package rehearsal

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
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

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodeboot"
	"github.com/isolatedetcd/cluster/internal/nodescript"
)

var (
	claimMetrics = claim{id: "9a", title: "metrics listeners answer",
		text: "every member's metrics listener (plain HTTP on the metrics port) serves /metrics, and /health and /readyz report ready, on the member's private address; every grpc-proxy worker's serves its own /proxy/metrics and /health on its own"}
	claimDefrag = claim{id: "9b", title: "defrag: one at a time, leader last",
		text: "the defragmentation script central nodes' timers run, as rendered, run on two central nodes at once while a client writes through a worker: one run defragments every member, followers first and the leader last, one at a time, each file smaller; the other waits for its lock and finds nothing to do; every acknowledged write reads back"}
	claimNoSpace = claim{id: "9c", title: "NOSPACE recovered by the defrag unit",
		text: "with the NOSPACE alarm raised, a write through a worker is refused; the defragmentation unit, started by hand as docs/operations.md says, compacts, defragments and disarms, and writes through every worker resume"}
)

// housekeepingLines runs lines 9 on the booted cluster.
func (r *rehearsal) housekeepingLines(ctx context.Context, c *localetcd.Nodes) []Line {
	lines := []Line{proveMetrics(ctx, c), claimDefrag.line(), claimNoSpace.line()}
	if c.Plan.Flavor != cloudconfig.Flatcar {
		lines[1], lines[2] = lines[1].skip("etcd2 has no v3 defragmentation"), lines[2].skip("etcd2 has no v3 alarms")
		return lines
	}
	if err := nodescript.Available(); err != nil {
		why := fmt.Sprintf("not run: the nodes' scripts run in mount namespaces: %v", err)
		lines[1], lines[2] = lines[1].skip("%s", why), lines[2].skip("%s", why)
		return lines
	}
	tools, err := nodescript.Build(ctx, []string{c.Central[0].Release}, r.log)
	if err != nil {
		lines[1], lines[2] = lines[1].fail("the images' tools: %v", err), lines[2].fail("the images' tools: %v", err)
		return lines
	}
	d := &defragDrill{c: c, tools: tools}
	lines[1] = d.defrag(ctx, lines[1])
	lines[2] = d.nospace(ctx, lines[2])
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

// proveMetrics is line 9a.
func proveMetrics(ctx context.Context, c *localetcd.Nodes) Line {
	l := claimMetrics.line()
	if c.Plan.Flavor != cloudconfig.Flatcar {
		return l.skip("etcd2 has no metrics listener of its own")
	}
	series := 0
	for _, n := range c.Central {
		for path, want := range map[string]string{"/metrics": "etcd_server_has_leader 1", "/health": `"health":"true"`, "/readyz": "ok"} {
			body, err := metricsGet(ctx, c, n.Addr, path)
			if err != nil || !strings.Contains(body, want) {
				return l.fail("%s %s: %v, want %q in %q", n.Node, path, err, want, firstLine(body))
			}
			if path == "/metrics" {
				series += strings.Count(body, "\n")
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
	return l.pass("%d members serve /metrics (%d lines each on average), /health true and /readyz ok on port %d of their private address; %s",
		len(c.Central), series/len(c.Central), cloudconfig.MetricsPort, workers)
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
	// Followers apply the compaction a moment after the member asked.
	for _, n := range d.c.Central {
		err := localetcd.Retry(ctx, drillTimeout, func() error {
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
