package localetcd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/isolatedetcd/cluster/components/discovery"
)

// Discovery is a local discovery endpoint: an etcd serving the v2 API, used
// the way etcd's custom discovery describes.
type Discovery struct {
	*Proc
	addr string
}

// NewDiscovery describes a discovery endpoint at addr that runs bin, with its
// data under dir; Host.StartDiscovery starts it.
func NewDiscovery(bin, dir, addr string) *Discovery {
	client := "http://" + net.JoinHostPort(addr, "2379")
	peer := "http://" + net.JoinHostPort(addr, "2380")
	return &Discovery{addr: addr, Proc: NewProc("discovery", filepath.Join(dir, "discovery"), bin, nil, []string{
		"ETCD_NAME=discovery",
		"ETCD_ENABLE_V2=true",
		"ETCD_LISTEN_CLIENT_URLS=" + client,
		"ETCD_ADVERTISE_CLIENT_URLS=" + client,
		"ETCD_LISTEN_PEER_URLS=" + peer,
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=" + peer,
		"ETCD_INITIAL_CLUSTER=discovery=" + peer,
	})}
}

// Endpoint is the discovery endpoint's client address.
func (d *Discovery) Endpoint() Endpoint { return Plain(net.JoinHostPort(d.addr, "2379")) }

// WaitReady waits until the endpoint answers, at most timeout.
func (d *Discovery) WaitReady(ctx context.Context, timeout time.Duration) error {
	err := Retry(ctx, timeout, func() error {
		if err := d.ExitError(); err != nil {
			return err
		}
		return d.Endpoint().Healthy(ctx)
	})
	if err != nil {
		return fmt.Errorf("discovery endpoint not ready after %s: %w\n%s", timeout, err, d.LogTail(10))
	}
	return nil
}

// NewTokenURL returns a fresh token's discovery URL on the endpoint at
// addr; the token exists once SetSize has run.
func NewTokenURL(addr string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "http://" + net.JoinHostPort(addr, "2379") + "/v2/keys/discovery/" + hex.EncodeToString(b)
}

// tokenPath is the v2 key path of a discovery URL's token.
func tokenPath(discoveryURL string) (string, error) {
	u, err := discovery.ParseURL(discoveryURL)
	if err != nil {
		return "", err
	}
	return u.KeyPath()
}

// SetSize creates the token with the cluster size it expects.
func (d *Discovery) SetSize(ctx context.Context, discoveryURL string, size int) error {
	p, err := tokenPath(discoveryURL)
	if err != nil {
		return err
	}
	return d.Endpoint().V2Set(ctx, p+"/_config/size", strconv.Itoa(size))
}

// Registered counts the members registered under a token.
func (d *Discovery) Registered(ctx context.Context, discoveryURL string) (int, error) {
	p, err := tokenPath(discoveryURL)
	if err != nil {
		return 0, err
	}
	// _config is hidden from v2 listings, so every child is a member.
	return d.Endpoint().V2Children(ctx, p)
}
