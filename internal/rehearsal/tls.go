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
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/localetcd"
)

var (
	claimPlaintextRefused = claim{id: "6a", title: "no plaintext, no certless client",
		text: "on every member's client and peer address, a plaintext request and a TLS client without a certificate are both refused"}
	claimForeignCA = claim{id: "6b", title: "another CA's certificate refused",
		text: "a client presenting a certificate from another CA is refused on every member's client and peer address"}
	claimRoguePeer = claim{id: "6c", title: "a peer without a valid certificate cannot join",
		text: "an etcd announced as a member but holding another CA's certificate never joins: the members refuse it and it them"}
)

// readKey is the key the drills' readers read.
const readKey = "/rehearsal/tls/read"

// tlsLines runs lines 6 against a TLS cluster. The CA rotation (6e) moves
// args to the CA generation the nodes then trust.
func (r *rehearsal) tlsLines(ctx context.Context, c *localetcd.Nodes, args *components.ClusterArgs, drills, renewal bool) []Line {
	lines := []Line{claimPlaintextRefused.line(), claimForeignCA.line(), claimRoguePeer.line(), claimRenewal.line(), claimCARotation.line()}
	if c.Plan.TLS == nil {
		for i := range lines {
			lines[i] = lines[i].skip("tls is off")
		}
		return lines
	}
	foreign, err := newForeignCA()
	if err != nil {
		for i := range lines {
			lines[i] = lines[i].fail("another CA for the intruders: %v", err)
		}
		return lines
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
	if !renewal {
		lines[3] = lines[3].skip("a renewal drill: run with renewal")
		lines[4] = lines[4].skip("a renewal drill: run with renewal")
		return lines
	}
	lines[3] = r.drillRenewal(ctx, c, *args)
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
