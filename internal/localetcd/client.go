package localetcd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// RequestTimeout bounds every request to an etcd endpoint.
const RequestTimeout = 3 * time.Second

// client talks to etcd over plain HTTP JSON: the v3 API through its gRPC
// gateway, the v2 API directly. Every host is a loopback address.
var client = &http.Client{Timeout: RequestTimeout, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// Endpoint is one etcd client address and how the rehearsal reaches it.
type Endpoint struct {
	// Addr is host:port.
	Addr string
	// Link, when set, says how: nil is plain HTTP on this machine's network.
	*Link
}

func (e Endpoint) String() string { return e.Addr }

// Plain is the endpoint at addr over plain HTTP on this machine's network.
func Plain(addr string) Endpoint { return Endpoint{Addr: addr} }

// Link is how the rehearsal reaches a lab's endpoints: from inside the lab,
// with a client certificate to members that require one, and over gRPC to
// etcd grpc-proxy, which serves no JSON gateway.
type Link struct {
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	TLS  *tls.Config
	// GRPC sends key-value requests over gRPC.
	GRPC bool

	once sync.Once
	hc   *http.Client
	mu   sync.Mutex
	kv   map[string]*clientv3.Client
}

func (l *Link) http() *http.Client {
	l.once.Do(func() {
		l.hc = &http.Client{Timeout: RequestTimeout, Transport: &http.Transport{
			Proxy: nil, DisableKeepAlives: true, DialContext: l.Dial, TLSClientConfig: l.TLS,
		}}
	})
	return l.hc
}

// grpc is the link's gRPC client of addr, made once.
func (l *Link) grpc(addr string) (*clientv3.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.kv[addr]; c != nil {
		return c, nil
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{addr},
		DialTimeout: RequestTimeout,
		TLS:         l.TLS,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return l.Dial(ctx, "tcp", a)
		})},
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, err
	}
	if l.kv == nil {
		l.kv = map[string]*clientv3.Client{}
	}
	l.kv[addr] = c
	return c, nil
}

// Use makes the link present and trust what tc says from now on, as an
// operator who fetched a new pair; open clients are closed.
func (l *Link) Use(tc *tls.Config) {
	l.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.TLS, l.once, l.hc = tc, sync.Once{}, nil
}

// Close closes the link's gRPC clients.
func (l *Link) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.kv {
		_ = c.Close()
	}
	l.kv = nil
}

func (e Endpoint) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	return e.doWith(ctx, client, method, path, contentType, body, out)
}

// doWith sends a request with hc, which may keep connections open (client
// does not); a link sends it its own way.
func (e Endpoint) doWith(ctx context.Context, hc *http.Client, method, path, contentType string, body io.Reader, out any) error {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	scheme := "http://"
	if e.Link != nil {
		hc = e.Link.http()
		if e.TLS != nil {
			scheme = "https://"
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, scheme+e.Addr+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Room for a key listing of a long drill's writes.
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// v3 posts a JSON request to a v3 gRPC-gateway path.
func (e Endpoint) v3(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return e.do(ctx, http.MethodPost, path, "application/json", bytes.NewReader(b), out)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Put writes key=value through the v3 API.
func (e Endpoint) Put(ctx context.Context, key, value string) error {
	return e.PutWith(ctx, client, key, value)
}

// PutWith writes key=value through the v3 API with hc.
func (e Endpoint) PutWith(ctx context.Context, hc *http.Client, key, value string) error {
	if e.Link != nil && e.GRPC {
		c, err := e.grpc(e.Addr)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
		defer cancel()
		_, err = c.Put(ctx, key, value)
		return err
	}
	b, err := json.Marshal(map[string]string{"key": b64(key), "value": b64(value)})
	if err != nil {
		return err
	}
	return e.doWith(ctx, hc, http.MethodPost, "/v3/kv/put", "application/json", bytes.NewReader(b), nil)
}

// Get reads key through the v3 API; serializable reads the endpoint's own
// copy without asking the leader.
func (e Endpoint) Get(ctx context.Context, key string, serializable bool) (string, error) {
	if e.Link != nil && e.GRPC {
		return e.grpcGet(ctx, key, serializable)
	}
	var r struct {
		Kvs []struct{ Value string } `json:"kvs"`
	}
	if err := e.v3(ctx, "/v3/kv/range", map[string]any{"key": b64(key), "serializable": serializable}, &r); err != nil {
		return "", err
	}
	if len(r.Kvs) == 0 {
		return "", fmt.Errorf("key %s not found", key)
	}
	v, err := base64.StdEncoding.DecodeString(r.Kvs[0].Value)
	return string(v), err
}

func (e Endpoint) grpcGet(ctx context.Context, key string, serializable bool) (string, error) {
	c, err := e.grpc(e.Addr)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	var opts []clientv3.OpOption
	if serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	r, err := c.Get(ctx, key, opts...)
	if err != nil {
		return "", err
	}
	if len(r.Kvs) == 0 {
		return "", fmt.Errorf("key %s not found", key)
	}
	return string(r.Kvs[0].Value), nil
}

// Keys lists the keys under prefix through the v3 API, in one request.
func (e Endpoint) Keys(ctx context.Context, prefix string) (map[string]bool, error) {
	if e.Link != nil && e.GRPC {
		return e.grpcKeys(ctx, prefix)
	}
	end := []byte(prefix)
	end[len(end)-1]++
	var r struct {
		Kvs []struct{ Key string } `json:"kvs"`
	}
	if err := e.v3(ctx, "/v3/kv/range", map[string]any{"key": b64(prefix), "range_end": b64(string(end)), "keys_only": true}, &r); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, kv := range r.Kvs {
		k, err := base64.StdEncoding.DecodeString(kv.Key)
		if err != nil {
			return nil, err
		}
		out[string(k)] = true
	}
	return out, nil
}

func (e Endpoint) grpcKeys(ctx context.Context, prefix string) (map[string]bool, error) {
	c, err := e.grpc(e.Addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	r, err := c.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, kv := range r.Kvs {
		out[string(kv.Key)] = true
	}
	return out, nil
}

// Member is one entry of the member list.
type Member struct {
	ID         string   `json:"ID"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

func (e Endpoint) Members(ctx context.Context) ([]Member, error) {
	var r struct {
		Members []Member `json:"members"`
	}
	err := e.v3(ctx, "/v3/cluster/member/list", map[string]any{}, &r)
	return r.Members, err
}

// MemberRemove removes the member with id (decimal, as the member list
// gives it) from the cluster.
func (e Endpoint) MemberRemove(ctx context.Context, id string) error {
	return e.v3(ctx, "/v3/cluster/member/remove", map[string]any{"ID": id}, nil)
}

// MemberAdd announces a new voting member at peerURLs and returns it and the
// Member list that includes it.
func (e Endpoint) MemberAdd(ctx context.Context, peerURLs []string) (Member, []Member, error) {
	var r struct {
		Member  Member   `json:"member"`
		Members []Member `json:"members"`
	}
	err := e.v3(ctx, "/v3/cluster/member/add", map[string]any{"peerURLs": peerURLs}, &r)
	return r.Member, r.Members, err
}

// TransferLeadership asks the leader at e to hand leadership to member id.
func (e Endpoint) TransferLeadership(ctx context.Context, id string) error {
	return e.v3(ctx, "/v3/maintenance/transfer-leadership", map[string]any{"targetID": id}, nil)
}

// Status is a member's own view: its id and the leader it follows.
type Status struct {
	Header struct {
		MemberID string `json:"member_id"`
	} `json:"header"`
	Leader string `json:"leader"`
	// Version is the member's etcd release, such as 3.6.16.
	Version string `json:"version"`
}

func (e Endpoint) Status(ctx context.Context) (Status, error) {
	var s Status
	err := e.v3(ctx, "/v3/maintenance/status", map[string]any{}, &s)
	return s, err
}

// Healthy reports the /health answer.
func (e Endpoint) Healthy(ctx context.Context) error {
	var h struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := e.do(ctx, http.MethodGet, "/health", "", nil, &h); err != nil {
		return err
	}
	if h.Health != "true" {
		return fmt.Errorf("health %q %s", h.Health, h.Reason)
	}
	return nil
}

// V2Set writes key=value through the v2 API.
func (e Endpoint) V2Set(ctx context.Context, key, value string) error {
	form := url.Values{"value": {value}}.Encode()
	return e.do(ctx, http.MethodPut, "/v2/keys"+key, "application/x-www-form-urlencoded", strings.NewReader(form), nil)
}

// V2Delete removes key and everything under it through the v2 API.
func (e Endpoint) V2Delete(ctx context.Context, key string) error {
	return e.do(ctx, http.MethodDelete, "/v2/keys"+key+"?recursive=true", "", nil, nil)
}

// V2Get reads key through the v2 API, through the leader (quorum), so a
// Member that has not applied the write yet does not answer.
func (e Endpoint) V2Get(ctx context.Context, key string) (string, error) {
	var r struct {
		Node struct {
			Value string `json:"value"`
		} `json:"node"`
	}
	err := e.do(ctx, http.MethodGet, "/v2/keys"+key+"?quorum=true", "", nil, &r)
	return r.Node.Value, err
}

// V2Children counts the nodes under a v2 directory.
func (e Endpoint) V2Children(ctx context.Context, dir string) (int, error) {
	var r struct {
		Node struct {
			Nodes []json.RawMessage `json:"nodes"`
		} `json:"node"`
	}
	err := e.do(ctx, http.MethodGet, "/v2/keys"+dir, "", nil, &r)
	return len(r.Node.Nodes), err
}

// Permanent wraps an error that repeating will not cure: Retry returns it
// at once.
func Permanent(err error) error { return permanent{err} }

type permanent struct{ err error }

func (e permanent) Error() string { return e.err.Error() }

// Retry calls f until it succeeds or timeout passes, and returns the last
// error. f stops it early by returning a Permanent error.
func Retry(ctx context.Context, timeout time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		if done, ok := errors.AsType[permanent](err); ok {
			return done.err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
