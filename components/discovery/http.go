// Package discovery parses, mints and checks etcd v2 discovery tokens, the
// URLs the central members bootstrap through. It speaks plain HTTP to
// discovery.etcd.io, a self-hosted etcd-discovery server, or any etcd serving
// the v2 keys API.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

var (
	// ErrUnreachable means no HTTP answer came back: DNS, connection, TLS or
	// timeout. The wrapped error says which.
	ErrUnreachable = errors.New("discovery service unreachable")
	// ErrBadAnswer means an answer came back that is not what a discovery
	// service sends, usually because the URL points somewhere else.
	ErrBadAnswer = errors.New("unexpected answer from discovery service")
)

// maxBody bounds what is read: a token listing is a few hundred bytes, and a
// wrong URL could point at anything.
const maxBody = 1 << 20

// get fetches u and returns its status and body. A transport failure is
// returned without the *url.Error around it, because that prints the request
// URL and a discovery URL may be a secret: callers name the endpoint.
func get(ctx context.Context, client *http.Client, u string) (int, []byte, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("reading answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// snippet quotes the start of body for an error message.
func snippet(body []byte) string {
	const n = 200
	if len(body) > n {
		return fmt.Sprintf("%q...", body[:n])
	}
	return fmt.Sprintf("%q", body)
}
