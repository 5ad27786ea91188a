// Package netlab gives a rehearsed cluster the addresses a cloud gives it: a
// private network namespace whose loopback carries the nodes' cloud
// addresses. Certificates that name those addresses then verify as they
// would in the cloud, and clusters rehearsed side by side, which share
// addresses, never meet. It needs root (CAP_SYS_ADMIN) and iproute2's ip.
package netlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Lab is one private network namespace, and the DNS names it resolves.
type Lab struct {
	fd int
	// names maps a DNS name to its address in the lab; hosts is the
	// /etc/hosts file that says the same to the processes started there.
	names map[string]string
	hosts string
}

// New makes a namespace whose loopback is up and carries addrs. Traffic to
// them leaves from 127.0.0.1, as every node's certificate names its
// loopback; in a cloud it leaves from the sender's own address, which its
// certificate names too. names (name to one of addrs) are what the zone
// would resolve; with some, processes start with an /etc/hosts of their own
// saying so, written into dir.
func New(addrs []string, names map[string]string, dir string) (*Lab, error) {
	for _, a := range addrs {
		if _, err := netip.ParseAddr(a); err != nil {
			return nil, fmt.Errorf("netlab: %q is not an address", a)
		}
	}
	lab := &Lab{fd: -1, names: names}
	if len(names) > 0 {
		var b strings.Builder
		b.WriteString("127.0.0.1 localhost\n")
		for name, a := range names {
			if _, err := netip.ParseAddr(a); err != nil {
				return nil, fmt.Errorf("netlab: name %s at %q, not an address", name, a)
			}
			fmt.Fprintf(&b, "%s %s\n", a, name)
		}
		f, err := os.CreateTemp(dir, "hosts-")
		if err != nil {
			return nil, err
		}
		lab.hosts = f.Name()
		_, err = f.WriteString(b.String())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	err := onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("netlab: a network namespace needs root: %w", err)
		}
		return nil
	}, func() error {
		var err error
		if lab.fd, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			return err
		}
		return setup(addrs)
	})
	if err != nil {
		lab.Close()
		return nil, err
	}
	return lab, nil
}

// onThread runs f on a thread of its own after enter has moved that thread
// to another network namespace, then moves it back. A thread that cannot
// move back is never reused: it ends with its goroutine, still locked.
func onThread(enter, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(orig)
		if err := enter(); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		ferr := f()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netlab: back to the host's namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// setup runs on a thread inside the namespace: ip inherits it.
func setup(addrs []string) error {
	cmds := [][]string{{"link", "set", "lo", "up"}}
	for _, a := range addrs {
		cmds = append(cmds,
			[]string{"addr", "add", a + "/32", "dev", "lo"},
			[]string{"route", "replace", "local", a, "dev", "lo", "table", "local", "proto", "kernel", "scope", "host", "src", "127.0.0.1"})
	}
	for _, c := range cmds {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			return fmt.Errorf("netlab: ip %s: %w: %s", strings.Join(c, " "), err, out)
		}
	}
	return nil
}

// Do runs f on a thread inside the namespace: sockets it opens and
// processes it starts live there.
func (l *Lab) Do(f func() error) error {
	return onThread(func() error {
		if err := unix.Setns(l.fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("netlab: enter: %w", err)
		}
		return nil
	}, f)
}

// IP runs iproute2's ip with args inside the namespace.
func (l *Lab) IP(args ...string) error {
	return l.Do(func() error {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("netlab: ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	})
}

// Veth joins l to peer with a pair of virtual Ethernet links, name in l and
// peerName in peer, both up: a cable between two machines.
func (l *Lab) Veth(name string, peer *Lab, peerName string) error {
	fd, err := unix.Dup(peer.fd)
	if err != nil {
		return fmt.Errorf("netlab: %w", err)
	}
	ns := os.NewFile(uintptr(fd), "netns")
	defer ns.Close()
	err = l.Do(func() error {
		// The child sees peer's namespace as its fd 3.
		cmd := exec.Command("ip", "link", "add", name, "type", "veth", "peer", "name", peerName, "netns", "/proc/self/fd/3")
		cmd.ExtraFiles = []*os.File{ns}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("netlab: veth %s-%s: %w: %s", name, peerName, err, out)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := l.IP("link", "set", name, "up"); err != nil {
		return err
	}
	return peer.IP("link", "set", peerName, "up")
}

// Sysctl sets a network setting of the namespace: key as sysctl names it
// (net.ipv4.ip_forward).
func (l *Lab) Sysctl(key, value string) error {
	if !strings.HasPrefix(key, "net.") || strings.Contains(key, "/") {
		return fmt.Errorf("netlab: sysctl %s: only a namespace's own net.* settings", key)
	}
	return l.Do(func() error {
		// /proc/sys/net shows the namespace of the thread that opens it.
		path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("netlab: sysctl %s=%s: %w", key, value, err)
		}
		return nil
	})
}

// Command is how to run bin with args in the lab: with names, through
// unshare(1), whose private mount namespace puts the lab's hosts file at
// /etc/hosts before the process starts.
func (l *Lab) Command(bin string, args []string) (string, []string) {
	if l.hosts == "" {
		return bin, args
	}
	return "unshare", append([]string{"--mount", "--", "sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, l.hosts, bin}, args...)
}

// DialContext dials from inside the namespace, resolving the lab's names.
func (l *Lab) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if h, port, err := net.SplitHostPort(addr); err == nil && l.names[h] != "" {
		addr = net.JoinHostPort(l.names[h], port)
	}
	var c net.Conn
	err := l.Do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Close lets the namespace go once its processes have ended.
func (l *Lab) Close() {
	if l.fd >= 0 {
		_ = unix.Close(l.fd)
		l.fd = -1
	}
}

// Available reports why labs cannot be made here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("netlab: needs root for a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("netlab: needs iproute2's ip: %w", err)
	}
	return nil
}
