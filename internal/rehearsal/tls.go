package rehearsal

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/plan"
	"github.com/isolatedetcd/cluster/internal/tlsmint"
)

var (
	claimPlaintextRefused = claim{id: "6a", title: "no plaintext, no certless client",
		text: "on every member's client and peer address, a plaintext request and a TLS client without a certificate are both refused"}
	claimForeignCA = claim{id: "6b", title: "another CA's certificate refused",
		text: "a client presenting a certificate from another CA is refused on every member's client and peer address"}
	claimRoguePeer = claim{id: "6c", title: "a peer without a valid certificate cannot join",
		text: "an etcd announced as a member but holding another CA's certificate never joins: the members refuse it and it them"}
	claimCARotation = claim{id: "6e", title: "CA rotated, one node at a time: nothing lost",
		text: "the CA rotated as docs/operations.md says (trust-next, sign-next, then the next generation alone; each an update and a roll of every node), with writes and reads through workers: no acknowledged write lost, no worker read failed (one retry), members then serve the new CA's certificates and refuse the old CA's"}
	claimRenewal = claim{id: "6d", title: "renewal, one node at a time: nothing lost",
		text: "every certificate renewed as docs/operations.md says (pulumi up in the renewal window, then members one at a time, then workers), with writes and reads through the workers throughout: no acknowledged write lost, no worker read failed (a client retries once, as etcd clients do when leadership moves), every member serving its new certificate"}
)

// readKey is the key the drills' readers read.
const readKey = "/rehearsal/tls/read"

// tlsLines runs lines 6 against a TLS cluster.
func (r *rehearsal) tlsLines(ctx context.Context, c *localetcd.Nodes, args components.ClusterArgs, drills bool) []Line {
	lines := []Line{claimPlaintextRefused.line(), claimForeignCA.line(), claimRoguePeer.line(), claimRenewal.line(), claimCARotation.line()}
	if c.Plan.TLS == nil {
		for i := range lines {
			lines[i] = lines[i].skip("tls is off")
		}
		return lines
	}
	foreign, err := newForeignCA()
	if err != nil {
		return []Line{lines[0].fail("%v", err)}
	}
	lines[0] = provePlaintextRefused(ctx, c)
	lines[1] = proveForeignCARefused(ctx, c, foreign)
	if !drills {
		for i := 2; i < len(lines); i++ {
			lines[i] = lines[i].skip("a fault drill: run with drills")
		}
		return lines
	}
	lines[2] = r.drillRoguePeer(ctx, c, foreign)
	lines[3] = r.drillRenewal(ctx, c, args)
	lines[4] = r.drillCARotation(ctx, c, args)
	return lines
}

// memberAddrs are every member's client and peer addresses, by the host
// clients and peers dial it at.
func memberAddrs(c *localetcd.Nodes) []string {
	var out []string
	for _, n := range c.Central {
		host, _, _ := net.SplitHostPort(n.Endpoint().Addr)
		for _, port := range []int{cloudconfig.ClientPort, cloudconfig.PeerPort} {
			out = append(out, net.JoinHostPort(host, fmt.Sprint(port)))
		}
	}
	return out
}

// refused sends a v3 range request to addr with tc (nil: plaintext) from
// inside the cluster's lab, and returns why it was refused, or an error
// when it was answered.
func refused(ctx context.Context, c *localetcd.Nodes, addr string, tc *tls.Config) (string, error) {
	scheme := "https://"
	if tc == nil {
		scheme = "http://"
	}
	hc := &http.Client{Timeout: localetcd.RequestTimeout, Transport: &http.Transport{
		Proxy: nil, DisableKeepAlives: true, DialContext: c.Lab.DialContext, TLSClientConfig: tc,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+addr+"/v3/kv/range", strings.NewReader(`{"key":"Lw=="}`))
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return firstLine(err.Error()), nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode/100 == 2 {
		return "", fmt.Errorf("%s answered %s: %s", addr, resp.Status, strings.TrimSpace(string(body)))
	}
	return fmt.Sprintf("%s %s", resp.Status, firstLine(string(body))), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 80 {
		s = s[len(s)-80:]
	}
	return s
}

// provePlaintextRefused is line 6a; the operator's certificate is the
// control: it must be answered on every client address.
func provePlaintextRefused(ctx context.Context, c *localetcd.Nodes) Line {
	l := claimPlaintextRefused.line()
	certless := c.Operator.TLS.Clone()
	certless.Certificates = nil
	var reasons []string
	for _, addr := range memberAddrs(c) {
		for name, tc := range map[string]*tls.Config{"plaintext": nil, "no certificate": certless} {
			why, err := refused(ctx, c, addr, tc)
			if err != nil {
				return l.fail("%s with %s: %v", addr, name, err)
			}
			reasons = append(reasons, why)
		}
	}
	for _, n := range c.Central {
		if _, err := n.Endpoint().Get(ctx, "/", true); err != nil && !strings.Contains(err.Error(), "not found") {
			return l.fail("control: the operator's certificate is refused too at %s: %v (%v); log:\n%s", n.Endpoint(), err, n.ExitError(), n.LogTail(3))
		}
	}
	return l.pass("%d addresses x {plaintext, TLS without certificate}: all refused (e.g. %q); the operator's certificate is answered on all %d members",
		len(memberAddrs(c)), reasons[0], len(c.Central))
}

// proveForeignCARefused is line 6b.
func proveForeignCARefused(ctx context.Context, c *localetcd.Nodes, foreign *foreignCA) Line {
	l := claimForeignCA.line()
	pair, err := foreign.issue("intruder", nil, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return l.fail("%v", err)
	}
	tc := c.Operator.TLS.Clone()
	// Presented whatever CAs the member asks for: left to choose, a Go
	// client sends none that does not chain to them.
	tc.Certificates = nil
	tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	var why string
	for _, addr := range memberAddrs(c) {
		if why, err = refused(ctx, c, addr, tc); err != nil {
			return l.fail("%v", err)
		}
	}
	return l.pass("%d addresses refused a client certificate from another CA (%q)", len(memberAddrs(c)), why)
}

// roguePeerAddr is a loopback address of the lab no node has.
const roguePeerAddr = "127.66.0.1"

// drillRoguePeer is line 6c: the rogue is announced with member add, so the
// cluster expects it, and started as a member would be, with a serving and
// peer certificate from another CA that names its address.
func (r *rehearsal) drillRoguePeer(ctx context.Context, c *localetcd.Nodes, foreign *foreignCA) Line {
	l := claimRoguePeer.line()
	peerURL := "https://" + net.JoinHostPort(roguePeerAddr, fmt.Sprint(cloudconfig.PeerPort))
	var added localetcd.Member
	var members []localetcd.Member
	// A member refuses to add one while a peer has only just rejoined.
	err := localetcd.Retry(ctx, drillTimeout, func() error {
		var err error
		added, members, err = c.Central[0].Endpoint().MemberAdd(ctx, []string{peerURL})
		return err
	})
	if err != nil {
		return l.fail("member add %s: %v", peerURL, err)
	}
	defer func() { _ = c.Central[0].Endpoint().MemberRemove(context.WithoutCancel(ctx), added.ID) }()
	dir := filepath.Join(r.Dir, "rogue-peer")
	pair, err := foreign.issue("rogue", []string{roguePeerAddr}, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return l.fail("%v", err)
	}
	files, err := foreign.files(dir, pair)
	if err != nil {
		return l.fail("%v", err)
	}
	var initial []string
	for _, m := range members {
		name := m.Name
		if m.ID == added.ID {
			name = "rogue"
		}
		initial = append(initial, name+"="+m.PeerURLs[0])
	}
	env := []string{
		"ETCD_NAME=rogue", "ETCD_INITIAL_CLUSTER=" + strings.Join(initial, ","), "ETCD_INITIAL_CLUSTER_STATE=existing",
		"ETCD_LISTEN_PEER_URLS=" + peerURL, "ETCD_INITIAL_ADVERTISE_PEER_URLS=" + peerURL,
		"ETCD_LISTEN_CLIENT_URLS=https://" + roguePeerAddr + ":2379", "ETCD_ADVERTISE_CLIENT_URLS=https://" + roguePeerAddr + ":2379",
		"ETCD_CERT_FILE=" + files.cert, "ETCD_KEY_FILE=" + files.key, "ETCD_TRUSTED_CA_FILE=" + files.ca, "ETCD_CLIENT_CERT_AUTH=true",
		"ETCD_PEER_CERT_FILE=" + files.cert, "ETCD_PEER_KEY_FILE=" + files.key, "ETCD_PEER_TRUSTED_CA_FILE=" + files.ca, "ETCD_PEER_CLIENT_CERT_AUTH=true",
	}
	rogue := c.NewProc("rogue", dir, r.Bin(c.Central[0].Release), nil, env)
	if err := r.Start(rogue); err != nil {
		return l.fail("%v", err)
	}
	defer rogue.Stop(5 * time.Second)
	// Long enough for a real peer to have joined many times over.
	const wait = 5 * time.Second
	select {
	case <-ctx.Done():
		return l.fail("%v", ctx.Err())
	case <-time.After(wait):
	}
	list, err := c.Central[0].Endpoint().Members(ctx)
	if err != nil {
		return l.fail("member list: %v", err)
	}
	for _, m := range list {
		if m.ID == added.ID && m.Name != "" {
			return l.fail("the rogue joined as %s; log:\n%s", m.Name, rogue.LogTail(5))
		}
	}
	refusals := 0
	for _, n := range c.Central {
		refusals += strings.Count(localetcd.LogSince(n.Proc, 0), "rejected connection")
	}
	return l.pass("announced at %s, started with another CA's certificate: after %s still unstarted in the member list; members logged %d rejected connections",
		peerURL, wait, refusals)
}

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
	// A client writes through the last worker and one reads through the
	// one before it, while the members, then the other workers, take their
	// renewed certificates; those two workers take theirs last.
	n := len(c.Workers)
	w := startWriter(ctx, c.Workers[n-1].Endpoint())
	defer w.stop()
	rd := startReader(ctx, c.Workers[n-2:n-1], readKey)
	defer rd.stop()
	if err := r.rollAll(ctx, c, next, n-2); err != nil {
		return l.fail("on renewed certificates: %v", err)
	}
	reads, retried, readFailures := rd.stop()
	acked, failed := w.stop()
	if err := r.rollWorkers(ctx, c.Workers[n-2:], next.Workers[n-2:]); err != nil {
		return l.fail("workers on their renewed certificate: %v", err)
	}
	if _, _, err := writeViaWorkers(ctx, c, "renewed"); err != nil {
		return l.fail("after renewal: %v", err)
	}
	lost, err := lostWrites(ctx, c, writerPrefix, acked)
	if err != nil {
		return l.fail("after renewal: %v", err)
	}
	after, err := servedSerials(ctx, c)
	if err != nil {
		return l.fail("after: %v", err)
	}
	for i := range after {
		if after[i] == before[i] {
			return l.fail("member %s still serves certificate serial %s", c.Central[i].Node, after[i])
		}
	}
	if lost > 0 || readFailures > 0 || len(acked) == 0 || reads == 0 {
		return l.fail("%d of %d acknowledged writes lost (%d refused); %d of %d worker reads failed: %v", lost, len(acked), failed, readFailures, reads, rd.firstErr)
	}
	return l.pass("%d members then %d workers restarted on renewed certificates; %d writes through a worker (%d refused, 0 lost), %d reads through another (%d retried once, 0 failed); every member serves a new serial, every worker writes on its new one",
		len(c.Central), len(c.Workers), len(acked), failed, reads, retried)
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
				n.Stop(5 * time.Second)
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
// at a time, then the workers a tenth at a time, while a writer and a
// reader on the last two workers run; those two are rolled once they stop.
// The rehearsal's own client takes the stage's operator pair, as an
// operator would fetch it.
func (r *rehearsal) drillCARotation(ctx context.Context, c *localetcd.Nodes, args components.ClusterArgs) Line {
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
	var acked []string
	declined, reads, retried, readFailures := 0, 0, 0, 0
	for _, st := range stages {
		a := args
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
		w := startWriter(ctx, c.Workers[n-1].Endpoint())
		rd := startReader(ctx, c.Workers[n-2:n-1], readKey)
		err = r.rollAll(ctx, c, next, n-2)
		rs, rt, rf := rd.stop()
		ack, fail := w.stop()
		acked, declined, reads, retried, readFailures = append(acked, ack...), declined+fail, reads+rs, retried+rt, readFailures+rf
		if err != nil {
			return l.fail("stage %q: %v", st.stage, err)
		}
		if err := r.rollWorkers(ctx, c.Workers[n-2:], next.Workers[n-2:]); err != nil {
			return l.fail("stage %q: %v", st.stage, err)
		}
	}
	lost, err := lostWrites(ctx, c, writerPrefix, acked)
	if err != nil {
		return l.fail("after the rotation: %v", err)
	}
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
	if lost > 0 || readFailures > 0 || len(acked) == 0 || reads == 0 {
		return l.fail("%d of %d acknowledged writes lost (%d refused); %d of %d worker reads failed", lost, len(acked), declined, readFailures, reads)
	}
	return l.pass("3 stages, each %d members then %d workers rolled; %d writes (%d refused, 0 lost), %d reads (%d retried once, 0 failed); members serve %q's certificates; the old CA's operator certificate is refused (%s)",
		len(c.Central), n, len(acked), declined, reads, retried, want, why)
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

// foreignCA is a CA the cluster does not trust: an intruder's.
type foreignCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newForeignCA() (*foreignCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	t := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another etcd CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, t, t, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return &foreignCA{cert: cert, key: key}, err
}

// issue is a pair from the foreign CA naming ips.
func (f *foreignCA) issue(cn string, ips []string, usages ...x509.ExtKeyUsage) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	t := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: f.cert.NotBefore, NotAfter: f.cert.NotAfter, ExtKeyUsage: usages,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
	for _, ip := range ips {
		t.IPAddresses = append(t.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, t, f.cert, &key.PublicKey, f.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func writePEMs(files map[string]*pem.Block) error {
	for path, b := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// foreignFiles are a rogue node's certificate files.
type foreignFiles struct{ ca, cert, key string }

func (f *foreignCA) files(dir string, pair tls.Certificate) (foreignFiles, error) {
	keyDER, err := x509.MarshalECPrivateKey(pair.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		return foreignFiles{}, err
	}
	out := foreignFiles{ca: filepath.Join(dir, "ca.crt"), cert: filepath.Join(dir, "rogue.crt"), key: filepath.Join(dir, "rogue.key")}
	return out, writePEMs(map[string]*pem.Block{
		out.ca:   {Type: "CERTIFICATE", Bytes: f.cert.Raw},
		out.cert: {Type: "CERTIFICATE", Bytes: pair.Certificate[0]},
		out.key:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	})
}
