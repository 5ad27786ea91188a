package rehearsal

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/isolatedetcd/cluster/internal/linearize"
	"github.com/isolatedetcd/cluster/internal/localetcd"
)

// historyKeys are how many keys a drill's clients share: few, so that they
// contend for them.
const historyKeys = 3

// historyPause is how long a client waits between its requests, and
// historyBackoff after one that failed.
const historyPause, historyBackoff = 25 * time.Millisecond, 200 * time.Millisecond

// checkTimeout bounds the linearizability check of one drill's history.
const checkTimeout = time.Minute

// recorder runs a drill's clients: each puts, reads linearizably and
// compares-and-swaps a few keys through one endpoint, as a service on a node
// does through its 127.0.0.1:2379, and records every request with its call
// and return times and its answer in one history, which check then checks.
// Serializable reads are not among them: a member answers them from its own
// copy, and a worker's grpc-proxy from a cache that only its own writes
// invalidate, so they promise no order across clients (README, "Which reads
// a service can rely on").
type recorder struct {
	hist *linearize.History
	keys []string
	// clients is how many run at once.
	clients int
	values  atomic.Int64
	// refused counts requests no endpoint took: the connection was refused,
	// so they cannot have taken effect and are not in the history.
	refused atomic.Int64
}

// newRecorder records a drill's history on keys of its own under prefix.
func newRecorder(prefix string) *recorder {
	r := &recorder{hist: linearize.NewHistory()}
	for i := range historyKeys {
		r.keys = append(r.keys, fmt.Sprintf("/rehearsal/history/%s/k%d", prefix, i))
	}
	return r
}

// historyEndpoints are where a drill's clients go: the local endpoints of
// the first, middle and last running workers, and the first and last
// members directly, as an operator's client does.
func historyEndpoints(c *localetcd.Nodes) []localetcd.Endpoint {
	var eps []localetcd.Endpoint
	pick := func(nodes []*localetcd.Node) {
		for _, i := range []int{0, len(nodes) / 2, len(nodes) - 1} {
			if i >= 0 && i < len(nodes) && !slices.ContainsFunc(eps, func(e localetcd.Endpoint) bool { return e.Addr == nodes[i].Endpoint().Addr }) {
				eps = append(eps, nodes[i].Endpoint())
			}
		}
	}
	pick(c.Workers)
	members := []*localetcd.Node{c.Central[0], c.Central[len(c.Central)-1]}
	pick(members)
	return eps
}

// start starts a client on each endpoint; the returned stop ends them and
// waits until every answer is recorded. A drill may start clients again (on
// a new operator certificate): the history goes on.
func (r *recorder) start(ctx context.Context, eps []localetcd.Endpoint) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	started := 0
	for _, ep := range eps {
		kv, err := newHistoryClient(ep)
		if err != nil {
			continue // newHistoryClient only fails on a bad address
		}
		started++
		wg.Go(func() {
			defer kv.close()
			r.run(ctx, kv, ep.Addr)
		})
	}
	r.clients = max(r.clients, started)
	return func() {
		cancel()
		wg.Wait()
	}
}

// run is one client: random requests on the keys until ctx ends. A write
// without an answer may land later, so the client goes on as a new stream
// of the history, as etcd's robustness tests do.
func (r *recorder) run(ctx context.Context, kv historyClient, via string) {
	stream := r.hist.NewStream()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(stream)))
	seen := map[string]string{}
	for ctx.Err() == nil {
		op := linearize.Op{Key: r.keys[rng.IntN(len(r.keys))], Client: stream, Via: via}
		n := rng.IntN(10)
		switch {
		case n < 4:
			op.Kind = linearize.Put
		case n < 8 || seen[op.Key] == "":
			op.Kind = linearize.Get
		default:
			op.Kind, op.Expect = linearize.CAS, seen[op.Key]
		}
		if op.Kind != linearize.Get {
			op.Value = fmt.Sprintf("v%d", r.values.Add(1))
		}
		op.Call = r.hist.Now()
		var err error
		switch op.Kind {
		case linearize.Put:
			err = kv.put(ctx, op.Key, op.Value)
		case linearize.Get:
			op.Found, op.Got, err = kv.get(ctx, op.Key)
		case linearize.CAS:
			op.Swapped, err = kv.cas(ctx, op.Key, op.Expect, op.Value)
		}
		op.Return = r.hist.Now()
		pause := historyPause
		switch {
		case err != nil && notSent(err):
			r.refused.Add(1)
			pause = historyBackoff
		case err != nil:
			op.Unknown = true
			r.hist.Add(op)
			if op.Kind != linearize.Get {
				stream = r.hist.NewStream()
				op.Client = stream
			}
			pause = historyBackoff
		default:
			r.hist.Add(op)
			switch {
			case op.Kind == linearize.Get:
				seen[op.Key] = op.Got
			case op.Kind == linearize.Put || op.Swapped:
				seen[op.Key] = op.Value
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// settle ends the history with a linearizable read of every key through
// ep, once the drill is over: an acknowledged write that is gone shows there
// even if no client read the key after it.
func (r *recorder) settle(ctx context.Context, ep localetcd.Endpoint) {
	kv, err := newHistoryClient(ep)
	if err != nil {
		return
	}
	defer kv.close()
	stream := r.hist.NewStream()
	for _, k := range r.keys {
		op := linearize.Op{Kind: linearize.Get, Key: k, Client: stream, Via: ep.Addr, Call: r.hist.Now()}
		var err error
		op.Found, op.Got, err = kv.get(ctx, k)
		op.Return, op.Unknown = r.hist.Now(), err != nil
		r.hist.Add(op)
	}
}

// notSent reports whether a request never reached an endpoint.
func notSent(err error) bool { return strings.Contains(err.Error(), "connection refused") }

// check checks the history of line id and says so for the line's evidence,
// in a sentence that starts it: how many operations, how long the check
// took, and "linearizable"; or "NOT linearizable", then, on the lines after
// (which the short report prints for a failed line), the first violation
// and the file holding porcupine's visualisation of the history, a page for
// a browser.
func (r *recorder) check(cluster, id string) (string, bool) {
	ops := r.hist.Ops()
	res := linearize.Check(ops, checkTimeout)
	unknown := 0
	for _, op := range ops {
		if op.Unknown && op.Kind != linearize.Get {
			unknown++
		}
	}
	counts := fmt.Sprintf("%d clients on %d keys; %d writes without an answer, %d failed reads left out, %d requests refused",
		r.clients, len(r.keys), unknown, res.Dropped, r.refused.Load())
	controlled, caught := control(ops)
	if res.Linearizable && res.Checked > 0 && caught {
		return fmt.Sprintf("history: %d ops linearizable, checked in %d ms; %s (%s)", res.Checked, res.Took.Milliseconds(), controlled, counts), true
	}
	if res.Linearizable && res.Checked > 0 {
		return fmt.Sprintf("history: %d ops linearizable, checked in %d ms, %s (%s)", res.Checked, res.Took.Milliseconds(), controlled, counts), false
	}
	violation := cmp.Or(res.Violation, "no operation was answered")
	f, err := os.CreateTemp("", fmt.Sprintf("rehearsal-%s-line-%s-history-*.html", cluster, id))
	if err == nil {
		err = errors.Join(res.WriteHTML(f), f.Close())
	}
	where := "visualisation: " + f.Name()
	if err != nil {
		where = fmt.Sprintf("visualisation not written: %v", err)
	}
	return fmt.Sprintf("history NOT linearizable (the first violation and porcupine's visualisation below)\n%s\n%s\n%d ops checked in %d ms (%s)",
		violation, where, res.Checked, res.Took.Milliseconds(), counts), false
}

// control is the negative control of a history found linearizable: the
// same history with one read made stale must not be.
func control(ops []linearize.Op) (string, bool) {
	stale, ok := linearize.StaleRead(ops)
	if !ok {
		return "no read follows two writes, so no stale read can be planted", true
	}
	res := linearize.Check(stale, checkTimeout)
	switch {
	case res.Linearizable:
		return "yet a stale read planted in it PASSES too: the check proves nothing", false
	case res.TimedOut:
		return "and a stale read planted in it was not refuted: " + res.Violation, false
	}
	return fmt.Sprintf("a stale read planted in it is caught (%d ms)", res.Took.Milliseconds()), true
}

// historyClient is one client's connection to an endpoint.
type historyClient interface {
	put(ctx context.Context, key, value string) error
	get(ctx context.Context, key string) (found bool, value string, err error)
	cas(ctx context.Context, key, expect, value string) (swapped bool, err error)
	close()
}

// newHistoryClient connects to ep the way localetcd.Endpoint does: over
// gRPC where the link says so (etcd grpc-proxy serves no JSON gateway),
// else through the JSON gateway, which every worker proxy passes on (the v2
// proxy passes HTTP only).
func newHistoryClient(ep localetcd.Endpoint) (historyClient, error) {
	dial := (&net.Dialer{}).DialContext
	if ep.Link != nil && ep.Dial != nil {
		dial = ep.Dial
	}
	if ep.Link != nil && ep.GRPC {
		c, err := clientv3.New(clientv3.Config{
			Endpoints:   []string{ep.Addr},
			DialTimeout: localetcd.RequestTimeout,
			TLS:         ep.TLS,
			DialOptions: []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
				return dial(ctx, "tcp", a)
			})},
			Logger: zap.NewNop(),
		})
		return grpcKV{c}, err
	}
	scheme, tr := "http://", &http.Transport{Proxy: nil, DialContext: dial}
	if ep.Link != nil && ep.TLS != nil {
		scheme, tr.TLSClientConfig = "https://", ep.TLS.Clone()
	}
	return jsonKV{base: scheme + ep.Addr, hc: &http.Client{Timeout: localetcd.RequestTimeout, Transport: tr}}, nil
}

type grpcKV struct{ c *clientv3.Client }

func (g grpcKV) put(ctx context.Context, key, value string) error {
	ctx, cancel := context.WithTimeout(ctx, localetcd.RequestTimeout)
	defer cancel()
	_, err := g.c.Put(ctx, key, value)
	return err
}

func (g grpcKV) get(ctx context.Context, key string) (bool, string, error) {
	ctx, cancel := context.WithTimeout(ctx, localetcd.RequestTimeout)
	defer cancel()
	r, err := g.c.Get(ctx, key)
	if err != nil || len(r.Kvs) == 0 {
		return false, "", err
	}
	return true, string(r.Kvs[0].Value), nil
}

func (g grpcKV) cas(ctx context.Context, key, expect, value string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, localetcd.RequestTimeout)
	defer cancel()
	r, err := g.c.Txn(ctx).If(clientv3.Compare(clientv3.Value(key), "=", expect)).Then(clientv3.OpPut(key, value)).Commit()
	if err != nil {
		return false, err
	}
	return r.Succeeded, nil
}

func (g grpcKV) close() { _ = g.c.Close() }

// jsonKV speaks etcd's v3 JSON gateway, keeping its connections open as a
// long-lived client does.
type jsonKV struct {
	base string
	hc   *http.Client
}

func (j jsonKV) post(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := j.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, out)
}

func (j jsonKV) put(ctx context.Context, key, value string) error {
	return j.post(ctx, "/v3/kv/put", map[string]string{"key": b64(key), "value": b64(value)}, &struct{}{})
}

func (j jsonKV) get(ctx context.Context, key string) (bool, string, error) {
	var r struct {
		Kvs []struct{ Value string } `json:"kvs"`
	}
	if err := j.post(ctx, "/v3/kv/range", map[string]string{"key": b64(key)}, &r); err != nil || len(r.Kvs) == 0 {
		return false, "", err
	}
	v, err := base64.StdEncoding.DecodeString(r.Kvs[0].Value)
	return true, string(v), err
}

func (j jsonKV) cas(ctx context.Context, key, expect, value string) (bool, error) {
	var r struct {
		Succeeded bool `json:"succeeded"`
	}
	err := j.post(ctx, "/v3/kv/txn", map[string]any{
		"compare": []map[string]string{{"key": b64(key), "target": "VALUE", "result": "EQUAL", "value": b64(expect)}},
		"success": []map[string]any{{"request_put": map[string]string{"key": b64(key), "value": b64(value)}}},
	}, &r)
	return r.Succeeded, err
}

func (j jsonKV) close() { j.hc.CloseIdleConnections() }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
