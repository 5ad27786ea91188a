package rehearsal

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// requestTimeout bounds every request to an etcd endpoint.
const requestTimeout = 3 * time.Second

// client talks to etcd over plain HTTP JSON: the v3 API through its gRPC
// gateway, the v2 API directly. Every host is a loopback address.
var client = &http.Client{Timeout: requestTimeout, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// endpoint is one etcd client address, host:port.
type endpoint string

func (e endpoint) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	return e.doWith(ctx, client, method, path, contentType, body, out)
}

// doWith sends a request with hc, which may keep connections open (client
// does not).
func (e endpoint) doWith(ctx context.Context, hc *http.Client, method, path, contentType string, body io.Reader, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+string(e)+path, body)
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
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
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
func (e endpoint) v3(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return e.do(ctx, http.MethodPost, path, "application/json", bytes.NewReader(b), out)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// put writes key=value through the v3 API.
func (e endpoint) put(ctx context.Context, key, value string) error {
	return e.putWith(ctx, client, key, value)
}

// putWith writes key=value through the v3 API with hc.
func (e endpoint) putWith(ctx context.Context, hc *http.Client, key, value string) error {
	b, err := json.Marshal(map[string]string{"key": b64(key), "value": b64(value)})
	if err != nil {
		return err
	}
	return e.doWith(ctx, hc, http.MethodPost, "/v3/kv/put", "application/json", bytes.NewReader(b), nil)
}

// get reads key through the v3 API; serializable reads the endpoint's own
// copy without asking the leader.
func (e endpoint) get(ctx context.Context, key string, serializable bool) (string, error) {
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

// member is one entry of the member list.
type member struct {
	ID         string   `json:"ID"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

func (e endpoint) members(ctx context.Context) ([]member, error) {
	var r struct {
		Members []member `json:"members"`
	}
	err := e.v3(ctx, "/v3/cluster/member/list", map[string]any{}, &r)
	return r.Members, err
}

// memberRemove removes the member with id (decimal, as the member list
// gives it) from the cluster.
func (e endpoint) memberRemove(ctx context.Context, id string) error {
	return e.v3(ctx, "/v3/cluster/member/remove", map[string]any{"ID": id}, nil)
}

// memberAdd announces a new voting member at peerURLs and returns it and the
// member list that includes it.
func (e endpoint) memberAdd(ctx context.Context, peerURLs []string) (member, []member, error) {
	var r struct {
		Member  member   `json:"member"`
		Members []member `json:"members"`
	}
	err := e.v3(ctx, "/v3/cluster/member/add", map[string]any{"peerURLs": peerURLs}, &r)
	return r.Member, r.Members, err
}

// transferLeadership asks the leader at e to hand leadership to member id.
func (e endpoint) transferLeadership(ctx context.Context, id string) error {
	return e.v3(ctx, "/v3/maintenance/transfer-leadership", map[string]any{"targetID": id}, nil)
}

// status is a member's own view: its id and the leader it follows.
type status struct {
	Header struct {
		MemberID string `json:"member_id"`
	} `json:"header"`
	Leader   string `json:"leader"`
	RaftTerm string `json:"raftTerm"`
}

func (e endpoint) status(ctx context.Context) (status, error) {
	var s status
	err := e.v3(ctx, "/v3/maintenance/status", map[string]any{}, &s)
	return s, err
}

// healthy reports the /health answer.
func (e endpoint) healthy(ctx context.Context) error {
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

// v2Set writes key=value through the v2 API.
func (e endpoint) v2Set(ctx context.Context, key, value string) error {
	form := url.Values{"value": {value}}.Encode()
	return e.do(ctx, http.MethodPut, "/v2/keys"+key, "application/x-www-form-urlencoded", strings.NewReader(form), nil)
}

// v2Get reads key through the v2 API, through the leader (quorum), so a
// member that has not applied the write yet does not answer.
func (e endpoint) v2Get(ctx context.Context, key string) (string, error) {
	var r struct {
		Node struct {
			Value string `json:"value"`
		} `json:"node"`
	}
	err := e.do(ctx, http.MethodGet, "/v2/keys"+key+"?quorum=true", "", nil, &r)
	return r.Node.Value, err
}

// v2Children counts the nodes under a v2 directory.
func (e endpoint) v2Children(ctx context.Context, dir string) (int, error) {
	var r struct {
		Node struct {
			Nodes []json.RawMessage `json:"nodes"`
		} `json:"node"`
	}
	err := e.do(ctx, http.MethodGet, "/v2/keys"+dir, "", nil, &r)
	return len(r.Node.Nodes), err
}

// retry calls f until it succeeds or timeout passes, and returns the last
// error. f stops it early by returning a retryDone.
func retry(ctx context.Context, timeout time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		if done, ok := errors.AsType[retryDone](err); ok {
			return done.err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
