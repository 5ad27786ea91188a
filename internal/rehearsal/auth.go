package rehearsal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodeboot"
	"github.com/isolatedetcd/cluster/internal/nodescript"
)

var claimAuth = claim{id: "6f", title: "a worker's key cannot change who votes",
	text: "the members' own script turns etcd authentication on while a client writes through a worker with the workers' credentials (a second run changes nothing); then with the workers' certificate every operation etcd reserves for root is refused by a member, and through a worker's proxy with the workers' password too, while reads and writes through it work; the members' defragmentation and health checks still work; the operator's pair turns authentication off again"}

// authDrill proves line 6f on a TLS cluster.
type authDrill struct {
	c     *localetcd.Nodes
	tools nodescript.Tools
	// user and password are the workers' credentials, as a worker has them.
	user, password string
}

// drillAuth is line 6f.
func (r *rehearsal) drillAuth(ctx context.Context, c *localetcd.Nodes) Line {
	l := claimAuth.line()
	if c.Plan.TLS == nil {
		return l.skip("tls is off")
	}
	if len(c.Workers) == 0 || len(c.Central) < 3 {
		return l.skip("needs a worker and three members")
	}
	if !slices.ContainsFunc(c.Central[0].Scripts, func(s nodeboot.Script) bool { return s.Path == cloudconfig.AuthScript && s.AfterEtcd }) {
		return l.fail("%s: no unit runs %s after etcd starts", c.Central[0].Node, cloudconfig.AuthScript)
	}
	if err := nodescript.Available(); err != nil {
		return l.skip("not run: the nodes' scripts run in mount namespaces: %v", err)
	}
	tools, err := nodescript.Build(ctx, []string{c.Central[0].Release}, r.log)
	if err != nil {
		return l.fail("the images' tools: %v", err)
	}
	d := &authDrill{c: c, tools: tools}
	creds, ok := nodeFile(c.Workers[0], cloudconfig.AuthCredentials)
	if !ok {
		return l.fail("%s has no %s", c.Workers[0].Node, cloudconfig.AuthCredentials)
	}
	d.user, d.password, _ = strings.Cut(strings.TrimSpace(creds), ":")
	l, enabled := d.run(ctx, l)
	if !enabled {
		return l
	}
	// Whatever the proof found, the lines after it run without authentication.
	if err := d.disable(ctx); err != nil {
		return l.fail("%s; and the operator's pair could not turn authentication off: %v", l.Evidence, err)
	}
	if l.Status == Pass {
		if err := c.Workers[0].Endpoint().Put(ctx, "/rehearsal/auth/after", "x"); err != nil {
			return l.fail("authentication off, a worker's client without credentials is still refused: %v", err)
		}
		l.Evidence += "; the operator's pair turned it off"
	}
	return l
}

// run turns authentication on and proves what it refuses and allows; it
// reports whether authentication got turned on.
func (d *authDrill) run(ctx context.Context, l Line) (Line, bool) {
	// A client of the worker's proxy with the workers' credentials, made
	// before authentication is on, writing throughout.
	early, err := d.client(d.c.Workers[0].Endpoint().Addr, nil, true)
	if err != nil {
		return l.fail("client through %s: %v", d.c.Workers[0].Node, err), false
	}
	defer early.Close()
	w := writeUntil(ctx, early, "/rehearsal/auth/early-")
	time.Sleep(300 * time.Millisecond)
	out, err := nodescript.Run(ctx, d.tools, d.node(0), cloudconfig.AuthScript)
	if err != nil || !strings.Contains(out, "Authentication Enabled") {
		w.stop()
		return l.fail("%s on %s: %v\n%s", cloudconfig.AuthScript, d.c.Central[0].Node, err, out), false
	}
	again, err := nodescript.Run(ctx, d.tools, d.node(1), cloudconfig.AuthScript)
	time.Sleep(300 * time.Millisecond)
	acked, refused, why := w.stop()
	if err != nil || !strings.Contains(again, "auth is on already") {
		return l.fail("a second run, on %s: %v\n%s", d.c.Central[1].Node, err, again), true
	}
	migration := "none refused across the switch"
	if refused > 0 {
		migration = fmt.Sprintf("%d refused once it was on (%s): a client that authenticated before has no token, and is refused until it reconnects", refused, why)
	}

	// Reads and writes through the proxy, by a client that authenticates now.
	late, err := d.client(d.c.Workers[0].Endpoint().Addr, nil, true)
	if err != nil {
		return l.fail("client through %s: %v", d.c.Workers[0].Node, err), true
	}
	defer late.Close()
	if _, err := late.Put(ctx, "/rehearsal/auth/late", "x"); err != nil {
		return l.fail("a write through %s with the workers' credentials: %v", d.c.Workers[0].Node, err), true
	}
	if r, err := late.Get(ctx, "/rehearsal/auth/late"); err != nil || len(r.Kvs) != 1 {
		return l.fail("a read through %s with the workers' credentials: %v", d.c.Workers[0].Node, err), true
	}
	if err := d.c.Workers[0].Endpoint().Put(ctx, "/rehearsal/auth/anonymous", "x"); !isAuthRefusal(err) {
		return l.fail("a write through %s without credentials: %v, want it refused", d.c.Workers[0].Node, err), true
	}

	// The workers' certificate, straight to a member, and the workers'
	// password through the proxy: every root-only operation refused.
	tc, err := d.workersTLS()
	if err != nil {
		return l.fail("the workers' pair: %v", err), true
	}
	member, err := d.client(d.c.Central[0].Endpoint().Addr, tc, false)
	if err != nil {
		return l.fail("client of %s with the workers' certificate: %v", d.c.Central[0].Node, err), true
	}
	defer member.Close()
	ids, err := d.memberIDs(ctx)
	if err != nil {
		return l.fail("members: %v", err), true
	}
	byCert := rootOnly(ctx, member, ids)
	byCert = append(byCert, refusal{"put", func() error { _, err := member.Put(ctx, "/rehearsal/auth/cert", "x"); return err }()})
	byPassword := rootOnly(ctx, late, ids)
	for _, r := range byCert {
		if !isAuthRefusal(r.err) {
			return l.fail("with the workers' certificate, %s on %s: %v, want it refused as not permitted", r.op, d.c.Central[0].Node, r.err), true
		}
	}
	reasons := map[string]bool{}
	for _, r := range byPassword {
		if r.err == nil {
			return l.fail("through %s with the workers' password, %s was allowed", d.c.Workers[0].Node, r.op), true
		}
		reasons[firstLine(r.err.Error())] = true
	}

	// The members' own tools run as root, by their certificates.
	if out, err := nodescript.Run(ctx, d.tools, d.node(2), cloudconfig.DefragScript); err != nil {
		return l.fail("%s on %s under authentication: %v\n%s", cloudconfig.DefragScript, d.c.Central[2].Node, err, out), true
	}
	// Health as monitoring reads it: a member's, and the worker proxy's.
	for _, n := range []*localetcd.Node{d.c.Central[0], d.c.Workers[0]} {
		if body, err := metricsGet(ctx, d.c, n.Addr, "/health"); err != nil || !strings.Contains(body, `"health":"true"`) {
			return l.fail("%s /health under authentication: %v %q", n.Node, err, firstLine(body)), true
		}
	}
	if lost, err := d.lost(ctx, w.keys); err != nil || len(lost) > 0 {
		return l.fail("acknowledged writes lost: %v %v", lost, err), true
	}
	return l.pass("%s turned authentication on, %s's run found it on; %d writes through %s with the workers' credentials acknowledged and read back, %s; %d root-only operations (%s) refused for the workers' certificate, and through the proxy for its password (%s); reads and writes through the proxy work, none without credentials; %s ran as root; /health of a member and of the worker's proxy say true",
		d.c.Central[0].Node, d.c.Central[1].Node, acked, d.c.Workers[0].Node, migration,
		len(byCert)-1, strings.Join(opNames(byCert[:len(byCert)-1]), ", "), strings.Join(slices.Sorted(maps.Keys(reasons)), "; "), cloudconfig.DefragScript), true
}

// node is central node i as nodescript runs its scripts.
func (d *authDrill) node(i int) nodescript.Node {
	n := d.c.Central[i]
	host, _, _ := net.SplitHostPort(n.Endpoint().Addr)
	return nodescript.Node{Dir: n.Proc.Dir(), Addr: host, Lab: d.c.Lab}
}

// client is a gRPC client of addr from inside the lab: with tc to a
// member, or plain to a worker's proxy, with the workers' credentials when
// withPassword.
func (d *authDrill) client(addr string, tc *tls.Config, withPassword bool) (*clientv3.Client, error) {
	cfg := clientv3.Config{Endpoints: []string{addr}, DialTimeout: localetcd.RequestTimeout, TLS: tc, Logger: zap.NewNop()}
	if withPassword {
		cfg.Username, cfg.Password = d.user, d.password
	}
	if d.c.Lab != nil {
		cfg.DialOptions = []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return d.c.Lab.DialContext(ctx, "tcp", a)
		})}
	}
	return clientv3.New(cfg)
}

// workersTLS presents the workers' certificate, as a worker holds it.
func (d *authDrill) workersTLS() (*tls.Config, error) {
	w := d.c.Workers[0]
	ca, _ := nodeFile(w, cloudconfig.TLSDir+"/ca.crt")
	cert, _ := nodeFile(w, cloudconfig.TLSDir+"/client.crt")
	key, _ := nodeFile(w, cloudconfig.TLSDir+"/client.key")
	pair, err := tls.X509KeyPair([]byte(cert), []byte(key))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(ca)) {
		return nil, errors.New("no CA certificate on the worker")
	}
	return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// operator is a client of member 0 with the operator's pair.
func (d *authDrill) operator() (*clientv3.Client, error) {
	tc, err := d.c.Plan.TLS.ClientConfig()
	if err != nil {
		return nil, err
	}
	return d.client(d.c.Central[0].Endpoint().Addr, tc, false)
}

// memberIDs are the members' IDs, the leader's first.
func (d *authDrill) memberIDs(ctx context.Context) ([]uint64, error) {
	op, err := d.operator()
	if err != nil {
		return nil, err
	}
	defer op.Close()
	ctx, cancel := context.WithTimeout(ctx, localetcd.RequestTimeout)
	defer cancel()
	st, err := op.Status(ctx, d.c.Central[0].Endpoint().Addr)
	if err != nil {
		return nil, err
	}
	ms, err := op.MemberList(ctx)
	if err != nil {
		return nil, err
	}
	ids := []uint64{st.Leader}
	for _, m := range ms.Members {
		if m.ID != st.Leader {
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}

// lost are the keys of keys the cluster does not have, read with the
// operator's pair.
func (d *authDrill) lost(ctx context.Context, keys []string) ([]string, error) {
	op, err := d.operator()
	if err != nil {
		return nil, err
	}
	defer op.Close()
	var out []string
	for _, k := range keys {
		c, cancel := context.WithTimeout(ctx, localetcd.RequestTimeout)
		r, err := op.Get(c, k)
		cancel()
		if err != nil {
			return out, err
		}
		if len(r.Kvs) == 0 {
			out = append(out, k)
		}
	}
	return out, nil
}

// disable turns authentication off with the operator's pair.
func (d *authDrill) disable(ctx context.Context) error {
	op, err := d.operator()
	if err != nil {
		return err
	}
	defer op.Close()
	ctx, cancel := context.WithTimeout(ctx, localetcd.RequestTimeout)
	defer cancel()
	_, err = op.AuthDisable(ctx)
	return err
}

// refusal is an operation tried and what it got back.
type refusal struct {
	op  string
	err error
}

// rootOnly tries, with cli, the operations etcd 3.5 to 3.7 reserve for the
// root role (server/etcdserver: checkMembershipOperationPermission, the
// maintenance server's isPermitted, needAdminPermission of the auth
// applier; not auth status, which 3.7 leaves to anyone), each aimed so that
// it would change something were it allowed. ids are the members', the
// leader's first.
func rootOnly(ctx context.Context, cli *clientv3.Client, ids []uint64) []refusal {
	ctx, cancel := context.WithTimeout(ctx, 2*localetcd.RequestTimeout)
	defer cancel()
	last := ids[len(ids)-1]
	try := func(op string, f func() error) refusal { return refusal{op, f()} }
	return []refusal{
		try("member remove", func() error { _, err := cli.MemberRemove(ctx, last); return err }),
		try("member add", func() error { _, err := cli.MemberAddAsLearner(ctx, []string{"https://192.0.2.1:2380"}); return err }),
		try("member update", func() error { _, err := cli.MemberUpdate(ctx, last, []string{"https://192.0.2.2:2380"}); return err }),
		try("member promote", func() error { _, err := cli.MemberPromote(ctx, last); return err }),
		try("alarm disarm", func() error {
			_, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: last, Alarm: 1})
			return err
		}),
		try("defragment", func() error { _, err := cli.Defragment(ctx, cli.Endpoints()[0]); return err }),
		try("snapshot", func() error {
			rc, err := cli.Snapshot(ctx)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(io.Discard, rc)
			return err
		}),
		try("hash", func() error { _, err := cli.HashKV(ctx, cli.Endpoints()[0], 0); return err }),
		try("move leader", func() error { _, err := cli.MoveLeader(ctx, ids[1]); return err }),
		try("downgrade", func() error { _, err := cli.Downgrade(ctx, clientv3.DowngradeValidate, "3.5.0"); return err }),
		try("auth disable", func() error { _, err := cli.AuthDisable(ctx); return err }),
		try("user add", func() error { _, err := cli.UserAdd(ctx, "intruder", "intruder-password"); return err }),
		try("user grant-role root", func() error { _, err := cli.UserGrantRole(ctx, "intruder", "root"); return err }),
		try("user list", func() error { _, err := cli.UserList(ctx); return err }),
		try("role add", func() error { _, err := cli.RoleAdd(ctx, "intruders"); return err }),
		try("role grant-permission", func() error {
			_, err := cli.RoleGrantPermission(ctx, "root", "/", "", clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		}),
	}
}

// isAuthRefusal reports whether err is etcd refusing a request for want of
// permission or of a user.
func isAuthRefusal(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "permission denied") || strings.Contains(err.Error(), "user name is empty"))
}

func opNames(rs []refusal) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.op)
	}
	return out
}

// nodeFile is the content of the file at path on node n.
func nodeFile(n *localetcd.Node, path string) (string, bool) {
	i := slices.IndexFunc(n.Files, func(f nodeboot.File) bool { return f.Path == path })
	if i < 0 {
		return "", false
	}
	return n.Files[i].Content, true
}

// writer writes through one client until stopped.
type writer struct {
	done          chan struct{}
	wg            sync.WaitGroup
	acked, denied int
	why           string
	keys          []string
}

// writeUntil writes keys prefix<n> with cli until stop.
func writeUntil(ctx context.Context, cli *clientv3.Client, prefix string) *writer {
	w := &writer{done: make(chan struct{})}
	w.wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-w.done:
				return
			default:
			}
			c, cancel := context.WithTimeout(ctx, localetcd.RequestTimeout)
			key := fmt.Sprintf("%s%05d", prefix, i)
			_, err := cli.Put(c, key, "x")
			cancel()
			if err != nil {
				w.denied++
				w.why = firstLine(err.Error())
				time.Sleep(20 * time.Millisecond)
				continue
			}
			w.acked++
			w.keys = append(w.keys, key)
		}
	})
	return w
}

// stop ends the writes and returns how many were acknowledged and refused,
// and the last refusal's reason.
func (w *writer) stop() (acked, refused int, why string) {
	close(w.done)
	w.wg.Wait()
	return w.acked, w.denied, w.why
}
