package rehearsal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"time"
)

// discovery is a local discovery endpoint: an etcd serving the v2 API, used
// the way etcd's custom discovery describes.
type discovery struct {
	*proc
	addr string
}

func newDiscovery(bin, dir, addr string) *discovery {
	client := "http://" + net.JoinHostPort(addr, "2379")
	peer := "http://" + net.JoinHostPort(addr, "2380")
	return &discovery{addr: addr, proc: &proc{
		name: "discovery",
		dir:  filepath.Join(dir, "discovery"),
		bin:  bin,
		env: []string{
			"ETCD_NAME=discovery",
			"ETCD_ENABLE_V2=true",
			"ETCD_LISTEN_CLIENT_URLS=" + client,
			"ETCD_ADVERTISE_CLIENT_URLS=" + client,
			"ETCD_LISTEN_PEER_URLS=" + peer,
			"ETCD_INITIAL_ADVERTISE_PEER_URLS=" + peer,
			"ETCD_INITIAL_CLUSTER=discovery=" + peer,
		},
	}}
}

func (d *discovery) endpoint() endpoint { return endpoint(net.JoinHostPort(d.addr, "2379")) }

// waitReady waits until the endpoint answers, at most timeout.
func (d *discovery) waitReady(ctx context.Context, timeout time.Duration) error {
	err := retry(ctx, timeout, func() error {
		if err := d.exitError(); err != nil {
			return err
		}
		return d.endpoint().healthy(ctx)
	})
	if err != nil {
		return fmt.Errorf("discovery endpoint not ready after %s: %w\n%s", timeout, err, d.logTail(10))
	}
	return nil
}

// newTokenURL returns a fresh token's discovery URL on the endpoint at
// addr; the token exists once setSize has run.
func newTokenURL(addr string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "http://" + net.JoinHostPort(addr, "2379") + "/v2/keys/discovery/" + hex.EncodeToString(b)
}

// tokenPath is the v2 key path of a discovery URL's token.
func tokenPath(discoveryURL string) (string, error) {
	u, err := url.Parse(discoveryURL)
	if err != nil {
		return "", err
	}
	const prefix = "/v2/keys"
	if len(u.Path) <= len(prefix) || u.Path[:len(prefix)] != prefix {
		return "", fmt.Errorf("discovery URL %s is not a v2 keys URL", discoveryURL)
	}
	return u.Path[len(prefix):], nil
}

// setSize creates the token with the cluster size it expects.
func (d *discovery) setSize(ctx context.Context, discoveryURL string, size int) error {
	p, err := tokenPath(discoveryURL)
	if err != nil {
		return err
	}
	return d.endpoint().v2Set(ctx, p+"/_config/size", strconv.Itoa(size))
}

// registered counts the members registered under a token.
func (d *discovery) registered(ctx context.Context, discoveryURL string) (int, error) {
	p, err := tokenPath(discoveryURL)
	if err != nil {
		return 0, err
	}
	// _config is hidden from v2 listings, so every child is a member.
	return d.endpoint().v2Children(ctx, p)
}
