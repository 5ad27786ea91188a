package nodeboot

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// proxyFlags are the flags of each local proxy the rehearsal interprets.
var proxyFlags = map[Kind][]string{
	Gateway:   {"--listen-addr", "--endpoints", "--retry-delay"},
	GRPCProxy: {"--listen-addr", "--advertise-client-url", "--metrics-addr", "--endpoints", "--cacert", "--cert", "--key"},
}

// proxyArgs checks the flags of `etcd gateway start` or `etcd grpc-proxy
// start`: its own addresses move to the node's loopback, its endpoints (the
// central nodes' cloud addresses) to theirs, and the files it reads to the
// node's files as its container sees them.
func proxyArgs(unit string, kind Kind, args []string, addr string, central map[string]string, c container) ([]string, error) {
	if len(args) < 2 || args[0] != string(kind) || args[1] != "start" {
		return nil, fmt.Errorf("unit %s: etcd %s: the rehearsal interprets only `etcd %s start`", unit, strings.Join(args, " "), kind)
	}
	out := []string{string(kind), "start"}
	seen := map[string]string{}
	for _, a := range args[2:] {
		flag, value, _ := strings.Cut(a, "=")
		seen[flag] = value
		if !slices.Contains(proxyFlags[kind], flag) {
			return nil, fmt.Errorf("unit %s: %s flag %q: the rehearsal cannot interpret it", unit, kind, a)
		}
		switch flag {
		case "--listen-addr", "--advertise-client-url":
			h, err := localHostPort(value, addr)
			if err != nil {
				return nil, fmt.Errorf("unit %s: %s: %w", unit, a, err)
			}
			out = append(out, flag+"="+h)
		case "--metrics-addr":
			u, err := localURL(value, func(h string) (string, bool) { return addr, h == addr || h == "127.0.0.1" })
			if err != nil {
				return nil, fmt.Errorf("unit %s: %s: %w", unit, a, err)
			}
			out = append(out, flag+"="+u)
		case "--endpoints":
			eps, err := centralEndpoints(unit, value, central)
			if err != nil {
				return nil, err
			}
			out = append(out, flag+"="+eps)
		case "--retry-delay":
			if _, err := time.ParseDuration(value); err != nil {
				return nil, fmt.Errorf("unit %s: %s: %w", unit, a, err)
			}
			out = append(out, a)
		case "--cacert", "--cert", "--key":
			local, err := c.file(value)
			if err != nil {
				return nil, fmt.Errorf("unit %s: %s: %w", unit, flag, err)
			}
			out = append(out, flag+"="+local)
		}
	}
	// Without it a grpc-proxy dials itself at its default, 127.0.0.1:23790,
	// and exits (etcd 3.5, 3.6) or advertises an address nothing serves (3.7).
	if kind == GRPCProxy && seen["--advertise-client-url"] != seen["--listen-addr"] {
		return nil, fmt.Errorf("unit %s: grpc-proxy advertises %q, not its listen address %q", unit, seen["--advertise-client-url"], seen["--listen-addr"])
	}
	return out, nil
}

// centralEndpoints maps a comma-separated list of central client addresses
// (host:port as the cloud knows them) to the central nodes' local ones.
func centralEndpoints(unit, list string, central map[string]string) (string, error) {
	var eps []string
	for _, e := range strings.Split(list, ",") {
		h, port, err := net.SplitHostPort(e)
		if err != nil || central[h] == "" {
			return "", fmt.Errorf("unit %s: endpoint %q is not a central node's client address", unit, e)
		}
		eps = append(eps, net.JoinHostPort(central[h], port))
	}
	return strings.Join(eps, ","), nil
}

// localHostPort maps host:port on the node (its own address after
// substitution, or 127.0.0.1) to the node's loopback address.
func localHostPort(hp, addr string) (string, error) {
	h, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", err
	}
	if h != addr && h != "127.0.0.1" {
		return "", fmt.Errorf("host %s is not this node", h)
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "", fmt.Errorf("port %q", port)
	}
	return net.JoinHostPort(addr, port), nil
}
