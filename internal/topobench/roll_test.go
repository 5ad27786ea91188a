package topobench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/localetcd/localetcdtest"
	"github.com/isolatedetcd/cluster/internal/netlab"
	"github.com/isolatedetcd/cluster/internal/plan"
)

// BenchmarkWriteDuringRoll counts the client writes a roll of every member
// refuses: the dev stack's 3 members and a worker, with TLS and
// authentication, from the program's own user data. Clients write through
// the worker's 127.0.0.1:2379 while each member in turn is stopped and
// started again on its own data, as rollCentral does, one at a time. A
// member is stopped as its unit stops it (stop=term: `docker stop`,
// SIGTERM and SIGKILL after the unit's --time; etcd moves leadership itself
// before it exits), the same after an explicit `etcdctl move-leader` when
// it leads (stop=moveleader), or by SIGKILL (stop=kill: a machine that
// loses power); stop=lab is how the rehearsal stopped a member before it
// read the unit's grace, SIGKILL 5 s after SIGTERM.
// A watcher on the worker keeps a watch stream open, as a node's
// consumers do. It reports the writes refused and acknowledged, the
// longest write, how many stopped members led and how many of those moved
// leadership before they exited (their log says so), and the longest stop.
// Compare with benchstat:
//
//	go test ./internal/topobench -run '^$' -bench WriteDuringRoll -benchtime 1x -count 6 -timeout 60m > roll.txt
//	benchstat -col /stop roll.txt
func BenchmarkWriteDuringRoll(b *testing.B) {
	ctx := localetcdtest.Context(b)
	if err := netlab.Available(); err != nil {
		b.Skip(err)
	}
	for _, stop := range []string{"term", "lab", "moveleader", "kill"} {
		b.Run("stop="+stop, func(b *testing.B) { benchRoll(b, ctx, stop) })
	}
}

const rollWriters = 3

func benchRoll(b *testing.B, ctx context.Context, stop string) {
	central, workers := 3, 1
	o := plan.Overrides{Central: &central, Workers: &workers, EtcdVersion: string(components.DefaultEtcdVersion)}
	nodes, host := bootDevHost(b, ctx, o)
	worker := nodes.Workers[0].Endpoint()
	var writers []*clientv3.Client
	for range rollWriters {
		c, err := clientv3.New(clientv3.Config{
			Endpoints: []string{worker.Addr}, DialTimeout: localetcd.RequestTimeout, Logger: zap.NewNop(),
			DialOptions: []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return worker.Dial(ctx, "tcp", a) })},
		})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		writers = append(writers, c)
	}
	watcher := writers[0].Watch(clientv3.WithRequireLeader(ctx), "/bench/roll/", clientv3.WithPrefix())
	go func() {
		for range watcher {
		}
	}()
	for i := range tlsBenchWarmup {
		if err := localetcd.Retry(ctx, 10*time.Second, func() error {
			_, err := writers[i%rollWriters].Put(ctx, fmt.Sprintf("/bench/warmup/%d", i), benchValue)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		var refused, acked atomic.Int64
		var mu sync.Mutex
		var longest time.Duration
		wctx, stopWriters := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for w, c := range writers {
			wg.Go(func() {
				for i := 0; wctx.Err() == nil; i++ {
					rctx, cancel := context.WithTimeout(wctx, localetcd.RequestTimeout)
					t := time.Now()
					_, err := c.Put(rctx, fmt.Sprintf("/bench/roll/%d/%d", w, i%100), benchValue)
					took := time.Since(t)
					cancel()
					switch {
					case err == nil:
						acked.Add(1)
					case wctx.Err() != nil:
						return
					default:
						refused.Add(1)
					}
					mu.Lock()
					longest = max(longest, took)
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Second)
		led, moved, slowest, err := rollEach(ctx, host, nodes, stop)
		time.Sleep(time.Second)
		stopWriters()
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(refused.Load()), "refused")
		b.ReportMetric(float64(acked.Load()), "acked")
		b.ReportMetric(ms(longest), "max-write-ms")
		b.ReportMetric(float64(led), "leaders-stopped")
		b.ReportMetric(float64(moved), "leaders-moved")
		b.ReportMetric(ms(slowest), "max-stop-ms")
	}
}

// rollEach stops each member in turn as stop says, starts it again on its
// data and waits until every member is healthy. It returns how many of
// the stopped members led, how many of those handed leadership on before
// they exited, and the longest stop.
func rollEach(ctx context.Context, host *localetcd.Host, nodes *localetcd.Nodes, stop string) (led, moved int, slowest time.Duration, err error) {
	for _, n := range nodes.Central {
		leader, err := leaderOf(ctx, nodes)
		if err != nil {
			return led, moved, slowest, err
		}
		leads := leader == n
		if leads {
			led++
		}
		logged := localetcd.LogSize(n.Proc)
		t := time.Now()
		switch {
		case stop == "kill":
			err = n.Kill(5 * time.Second)
		case stop == "lab":
			n.Stop(5 * time.Second)
		case stop == "moveleader" && leads:
			err = moveLeaderOff(ctx, nodes, n)
			n.Stop(n.StopGrace)
		default:
			n.Stop(n.StopGrace)
		}
		slowest = max(slowest, time.Since(t))
		if leads && (stop == "moveleader" || strings.Contains(localetcd.LogSince(n.Proc, logged), "leadership transfer finished")) {
			moved++
		}
		if err != nil {
			return led, moved, slowest, fmt.Errorf("stop %s: %w", n.Node, err)
		}
		n.Proc = n.Proc.Restarted(host.Bin(n.Release), n.Args, n.Env)
		if err := host.Start(n.Proc); err != nil {
			return led, moved, slowest, err
		}
		if err := localetcd.Retry(ctx, time.Minute, func() error {
			for _, m := range nodes.Central {
				if err := m.Endpoint().Healthy(ctx); err != nil {
					return fmt.Errorf("%s: %w", m.Node, err)
				}
			}
			return nil
		}); err != nil {
			return led, moved, slowest, err
		}
	}
	return led, moved, slowest, nil
}

// leaderOf is the member the others follow.
func leaderOf(ctx context.Context, nodes *localetcd.Nodes) (*localetcd.Node, error) {
	for _, n := range nodes.Central {
		st, err := n.Endpoint().Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("status of %s: %w", n.Node, err)
		}
		if st.Leader == st.Header.MemberID {
			return n, nil
		}
	}
	return nil, errors.New("no member leads")
}

// moveLeaderOff hands leader's leadership to another member, as
// `etcdctl move-leader` does with a root certificate.
func moveLeaderOff(ctx context.Context, nodes *localetcd.Nodes, leader *localetcd.Node) error {
	ep := leader.Endpoint()
	for _, n := range nodes.Central {
		if n == leader {
			continue
		}
		st, err := n.Endpoint().Status(ctx)
		if err != nil {
			continue
		}
		return ep.TransferLeadership(ctx, st.Header.MemberID)
	}
	return errors.New("no other member answers")
}
