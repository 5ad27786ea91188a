package rehearsal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/plan"
	"github.com/isolatedetcd/cluster/internal/tlsmint"
)

var (
	// Lines 6d and 6e: certificates renewed, and the CA rotated, one node
	// at a time under load.
	claimRenewal = claim{id: "6d", title: "renewal, one node at a time: nothing lost",
		text: "every certificate renewed as docs/operations.md says (pulumi up in the renewal window, then members one at a time, then workers), with clients writing, reading and swapping through workers and members throughout: their history is linearizable (no acknowledged write lost, no stale read), no worker read failed (a client retries once, as etcd clients do when leadership moves), every member serving its new certificate"}
	claimCARotation = claim{id: "6e", title: "CA rotated, one node at a time: nothing lost",
		text: "the CA rotated as docs/operations.md says (trust-next, sign-next, then the next generation alone; each an update and a roll of every node), with clients writing, reading and swapping through workers and members: their history is linearizable (no acknowledged write lost, no stale read), no worker read failed (one retry), members then serve the new CA's certificates and refuse the old CA's"}
)

// drillRenewal is line 6d. As the TLS provider replaces a certificate in
// its renewal window on the next pulumi up, tlsmint mints every leaf afresh
// (same keys and requests, same CA, a new serial and validity); the program
// renders the nodes' user data from them, and each node restarts on it.
func (r *rehearsal) drillRenewal(ctx context.Context, c *localetcd.Nodes, args components.ClusterArgs) Line {
	l := claimRenewal.line()
	if len(c.Central) < 3 || len(c.Workers) < 2 {
		return l.skip("needs 3 or more central nodes and 2 or more workers; this cluster has %d and %d", len(c.Central), len(c.Workers))
	}
	before, err := servedSerials(ctx, c)
	if err != nil {
		return l.fail("before: %v", err)
	}
	tlsmint.Renew()
	p, err := plan.Read(c.Plan.Cluster, args)
	if err != nil {
		return l.fail("the plan after renewal: %v", err)
	}
	next, err := localetcd.Prepare(p, r.Block, c.DiscoveryURL)
	if err != nil {
		return l.fail("%v", err)
	}
	if err := c.Workers[0].Endpoint().Put(ctx, readKey, "read during renewal"); err != nil {
		return l.fail("seed the read key: %v", err)
	}
	// Clients write, read and swap through workers and members, and one
	// reads through the last worker but one, while the members, then the
	// other workers, take their renewed certificates; the last two workers
	// take theirs last.
	n := len(c.Workers)
	rec := newRecorder(l.ID)
	stopClients := rec.start(ctx, historyEndpoints(c))
	defer stopClients()
	rd := startReader(ctx, c.Workers[n-2:n-1], readKey)
	defer rd.stop()
	if err := r.rollAll(ctx, c, next, n-2); err != nil {
		return l.fail("on renewed certificates: %v", err)
	}
	reads, retried, readFailures := rd.stop()
	stopClients()
	if err := r.rollWorkers(ctx, c.Workers[n-2:], next.Workers[n-2:]); err != nil {
		return l.fail("workers on their renewed certificate: %v", err)
	}
	if _, _, err := writeViaWorkers(ctx, c, "renewed"); err != nil {
		return l.fail("after renewal: %v", err)
	}
	rec.settle(ctx, c.Central[0].Endpoint())
	history, ok := rec.check(c.Plan.Cluster, l.ID)
	after, err := servedSerials(ctx, c)
	if err != nil {
		return l.fail("after: %v", err)
	}
	for i := range after {
		if after[i] == before[i] {
			return l.fail("member %s still serves certificate serial %s", c.Central[i].Node, after[i])
		}
	}
	if !ok {
		return l.fail("%s", history)
	}
	if readFailures > 0 || reads == 0 {
		return l.fail("%d of %d worker reads failed: %v", readFailures, reads, rd.firstErr)
	}
	return l.pass("%s; %d members then %d workers restarted on renewed certificates; %d reads through a worker (%d retried once, 0 failed); every member serves a new serial, every worker writes on its new one",
		history, len(c.Central), len(c.Workers), reads, retried)
}

// rollWorkers restarts workers on their next user data a tenth at a time,
// as an auto scaling group's instance refresh keeps 90% of them in service,
// and waits until each answers.
func (r *rehearsal) rollWorkers(ctx context.Context, workers, next []*localetcd.Node) error {
	batch := max(1, len(workers)/10)
	for start := 0; start < len(workers); start += batch {
		var wg sync.WaitGroup
		errs := make([]error, len(workers))
		for i := start; i < min(start+batch, len(workers)); i++ {
			wg.Go(func() {
				n := workers[i]
				n.Stop(n.StopGrace)
				n.Process = next[i].Process
				if errs[i] = localetcd.PutFiles(n); errs[i] != nil {
					return
				}
				n.Proc = n.Proc.Restarted(r.Bin(n.Release), n.Args, n.Env)
				if errs[i] = r.Start(n.Proc); errs[i] != nil {
					return
				}
				errs[i] = localetcd.Retry(ctx, drillTimeout, func() error { return n.Endpoint().Healthy(ctx) })
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}

// drillCARotation is line 6e. Each stage is an update (the plan the
// program renders for the stage) and a roll of every node: the members one
// at a time, then the workers a tenth at a time, while the history's
// clients and a reader on the last worker but one run; the last two
// workers are rolled once they stop.
// The rehearsal's own client takes the stage's operator pair, as an
// operator would fetch it. args follow each stage rolled, as the stack's
// config does: a later drill renders the CA generation the nodes trust.
func (r *rehearsal) drillCARotation(ctx context.Context, c *localetcd.Nodes, args *components.ClusterArgs) Line {
	l := claimCARotation.line()
	n := len(c.Workers)
	if len(c.Central) < 3 || n < 2 {
		return l.skip("needs 3 or more central nodes and 2 or more workers; this cluster has %d and %d", len(c.Central), n)
	}
	old := c.Operator.TLS
	g := args.CAGeneration
	if err := c.Workers[0].Endpoint().Put(ctx, readKey, "read during the rotation"); err != nil {
		return l.fail("seed the read key: %v", err)
	}
	stages := []struct {
		gen   int
		stage string
	}{{g, components.CATrustNext}, {g, components.CASignNext}, {g + 1, ""}}
	rec := newRecorder(l.ID)
	reads, retried, readFailures := 0, 0, 0
	for _, st := range stages {
		a := *args
		a.CAGeneration, a.CARotation = st.gen, st.stage
		p, err := plan.Read(c.Plan.Cluster, a)
		if err != nil {
			return l.fail("the plan of stage %q: %v", st.stage, err)
		}
		next, err := localetcd.Prepare(p, r.Block, c.DiscoveryURL)
		if err != nil {
			return l.fail("%v", err)
		}
		tc, err := p.TLS.ClientConfig()
		if err != nil {
			return l.fail("%v", err)
		}
		c.Operator.Use(tc)
		// The clients on members take the stage's operator pair too.
		stopClients := rec.start(ctx, historyEndpoints(c))
		rd := startReader(ctx, c.Workers[n-2:n-1], readKey)
		err = r.rollAll(ctx, c, next, n-2)
		rs, rt, rf := rd.stop()
		stopClients()
		reads, retried, readFailures = reads+rs, retried+rt, readFailures+rf
		if err != nil {
			return l.fail("stage %q: %v", st.stage, err)
		}
		if err := r.rollWorkers(ctx, c.Workers[n-2:], next.Workers[n-2:]); err != nil {
			return l.fail("stage %q: %v", st.stage, err)
		}
		*args = a
	}
	rec.settle(ctx, c.Central[0].Endpoint())
	history, ok := rec.check(c.Plan.Cluster, l.ID)
	issuers, err := servedIssuers(ctx, c)
	if err != nil {
		return l.fail("after the rotation: %v", err)
	}
	want := fmt.Sprintf("%s-gen%d etcd CA", c.Plan.Cluster, g+1)
	for i, is := range issuers {
		if is != want {
			return l.fail("member %s serves a certificate issued by %q, want %q", c.Central[i].Node, is, want)
		}
	}
	if _, _, err := writeViaWorkers(ctx, c, "rotated"); err != nil {
		return l.fail("after the rotation: %v", err)
	}
	// The old pair, presented to a member the client now trusts.
	tc := c.Operator.TLS.Clone()
	tc.Certificates = nil
	tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &old.Certificates[0], nil }
	why, err := refused(ctx, c, c.Central[0].Endpoint().Addr, tc)
	if err != nil {
		return l.fail("the old CA's operator certificate: %v", err)
	}
	if !ok {
		return l.fail("%s", history)
	}
	if readFailures > 0 || reads == 0 {
		return l.fail("%d of %d worker reads failed", readFailures, reads)
	}
	return l.pass("%s; 3 stages, each %d members then %d workers rolled; %d reads (%d retried once, 0 failed); members serve %q's certificates; the old CA's operator certificate is refused (%s)",
		history, len(c.Central), n, reads, retried, want, why)
}

// rollAll rolls every member one at a time, then the first workers of c
// a tenth at a time, onto next.
func (r *rehearsal) rollAll(ctx context.Context, c, next *localetcd.Nodes, workers int) error {
	for i, m := range c.Central {
		if err := r.roll(ctx, m, next.Central[i], c); err != nil {
			return fmt.Errorf("member %s: %w", m.Node, err)
		}
	}
	return r.rollWorkers(ctx, c.Workers[:workers], next.Workers[:workers])
}

// servedIssuers are the issuers of the certificates the members serve.
func servedIssuers(ctx context.Context, c *localetcd.Nodes) ([]string, error) {
	var out []string
	err := eachServed(ctx, c, func(cert *x509.Certificate) { out = append(out, cert.Issuer.CommonName) })
	return out, err
}

// servedSerials are the serials of the certificates the members serve.
func servedSerials(ctx context.Context, c *localetcd.Nodes) ([]string, error) {
	var out []string
	err := eachServed(ctx, c, func(cert *x509.Certificate) { out = append(out, cert.SerialNumber.Text(16)) })
	return out, err
}

// eachServed hands f the certificate each member serves, in node order.
func eachServed(ctx context.Context, c *localetcd.Nodes, f func(*x509.Certificate)) error {
	for _, n := range c.Central {
		addr := n.Endpoint().Addr
		conn, err := c.Lab.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		tc := c.Operator.TLS.Clone()
		tc.ServerName, _, _ = net.SplitHostPort(addr)
		t := tls.Client(conn, tc)
		err = t.HandshakeContext(ctx)
		if err == nil {
			f(t.ConnectionState().PeerCertificates[0])
		}
		t.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", n.Node, err)
		}
	}
	return nil
}

// reader reads one key through workers in turn until stopped, as clients
// on them would: a read refused while leadership moves ("leader changed")
// is retried once. It counts reads, retries and reads that failed twice.
type reader struct {
	cancel   context.CancelFunc
	done     sync.WaitGroup
	reads    int
	retried  int
	failures int
	firstErr error
}

func startReader(ctx context.Context, workers []*localetcd.Node, key string) *reader {
	ctx, cancel := context.WithCancel(ctx)
	rd := &reader{cancel: cancel}
	rd.done.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			ep := workers[i%len(workers)].Endpoint()
			_, err := ep.Get(ctx, key, false)
			if err != nil && ctx.Err() == nil {
				rd.retried++
				time.Sleep(100 * time.Millisecond)
				_, err = ep.Get(ctx, key, false)
			}
			switch {
			case ctx.Err() != nil:
			case err != nil:
				rd.failures++
				if rd.firstErr == nil {
					rd.firstErr = err
				}
			default:
				rd.reads++
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	return rd
}

func (rd *reader) stop() (reads, retried, failures int) {
	rd.cancel()
	rd.done.Wait()
	return rd.reads, rd.retried, rd.failures
}
