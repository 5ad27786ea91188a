// Package netlab gives a rehearsed cluster the addresses a cloud gives it: a
// private network namespace whose loopback carries the nodes' cloud
// addresses. Certificates that name those addresses then verify as they
// would in the cloud, and clusters rehearsed side by side, which share
// addresses, never meet. It needs iproute2's ip, and root (CAP_SYS_ADMIN)
// or, for an ordinary user, a user namespace of the program's own, where it
// is root over the namespaces it makes (Reexec).
package netlab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Lab is one private network namespace, and the DNS names it resolves.
type Lab struct {
	fd int
	// names maps a DNS name to its address in the lab (replaced, never
	// changed, under mu); hosts is the /etc/hosts file that says the same
	// to the processes started there.
	names map[string]string
	hosts string

	mu sync.Mutex
	// idle are the lab's threads waiting for work; closed, once Close
	// has run.
	idle   []*thread
	closed bool
}

// thread is an OS thread inside a lab's namespace, for good: the goroutine
// locked to it runs the work it is sent and ends, taking the thread with
// it, when work is closed. A thread never moves back to the namespace it
// came from: in a user namespace of the program's own (Reexec) it could
// not, the host's namespace being the real root's, and processes started
// from it are killed when it ends (their parent-death signal follows the
// thread that forked them), so it ends only when the lab closes.
type thread struct{ work chan func() }

// spawn starts a thread that enter moves into a namespace; an error is
// enter's, and that thread ends at once.
func spawn(enter func() error) (*thread, error) {
	t := &thread{work: make(chan func())}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine.
		runtime.LockOSThread()
		if err := enter(); err != nil {
			errc <- err
			return
		}
		errc <- nil
		for f := range t.work {
			f()
		}
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return t, nil
}

var (
	hostOnce   sync.Once
	hostThread *thread
)

// OnHost runs f on a thread of the program's own network namespace that
// lives as long as the program: a process f starts asking for a
// parent-death signal gets it only when the program ends. Started from any
// other thread, the Go runtime might later hand that thread to a lab,
// which ends it when the lab closes, and the process would die with it.
func OnHost(f func() error) error {
	hostOnce.Do(func() {
		// Entering nothing cannot fail.
		hostThread, _ = spawn(func() error { return nil })
	})
	errc := make(chan error, 1)
	hostThread.work <- func() { errc <- f() }
	return <-errc
}

// errClosed is what a closed lab's Do says.
var errClosed = errors.New("netlab: the lab is closed")

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
		text, err := hostsFile(names)
		if err != nil {
			return nil, err
		}
		f, err := os.CreateTemp(dir, "hosts-")
		if err != nil {
			return nil, err
		}
		lab.hosts = f.Name()
		_, err = f.WriteString(text)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	t, err := spawn(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("netlab: a network namespace: %w", err)
		}
		var err error
		lab.fd, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		lab.Close()
		return nil, err
	}
	lab.idle = []*thread{t}
	if err := lab.Do(func() error { return setup(addrs) }); err != nil {
		lab.Close()
		return nil, err
	}
	return lab, nil
}

// hostsFile is an /etc/hosts saying names.
func hostsFile(names map[string]string) (string, error) {
	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n")
	for name, a := range names {
		if _, err := netip.ParseAddr(a); err != nil {
			return "", fmt.Errorf("netlab: name %s at %q, not an address", name, a)
		}
		fmt.Fprintf(&b, "%s %s\n", a, name)
	}
	return b.String(), nil
}

// Add puts more addresses, and names for them, in the lab, as a cloud
// gives machines created later theirs. Processes already running resolve
// the new names too: the hosts file they see is rewritten in place.
func (l *Lab) Add(addrs []string, names map[string]string) error {
	for _, a := range addrs {
		if _, err := netip.ParseAddr(a); err != nil {
			return fmt.Errorf("netlab: %q is not an address", a)
		}
	}
	if len(names) > 0 && l.hosts == "" {
		return errors.New("netlab: the lab was made without names, so its processes read no hosts file of its own")
	}
	if err := l.Do(func() error { return setup(addrs) }); err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	all := maps.Clone(l.names)
	maps.Copy(all, names)
	text, err := hostsFile(all)
	if err != nil {
		return err
	}
	// In place, not renamed over: bind mounts hold the file, not its name.
	if err := os.WriteFile(l.hosts, []byte(text), 0o644); err != nil {
		return err
	}
	l.names = all
	return nil
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
// processes it starts live there. Processes started by f live as long as
// the lab, at most: they get their parent-death signal when it closes.
func (l *Lab) Do(f func() error) error {
	t, err := l.thread()
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	t.work <- func() { errc <- f() }
	err = <-errc
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		close(t.work)
	} else {
		l.idle = append(l.idle, t)
	}
	return err
}

// thread is an idle thread of the lab, or a new one.
func (l *Lab) thread() (*thread, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errClosed
	}
	if n := len(l.idle); n > 0 {
		t := l.idle[n-1]
		l.idle = l.idle[:n-1]
		l.mu.Unlock()
		return t, nil
	}
	fd := l.fd
	l.mu.Unlock()
	return spawn(func() error {
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("netlab: enter: %w", err)
		}
		return nil
	})
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
	l.mu.Lock()
	names := l.names
	l.mu.Unlock()
	if h, port, err := net.SplitHostPort(addr); err == nil && names[h] != "" {
		addr = net.JoinHostPort(names[h], port)
	}
	var c net.Conn
	err := l.Do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Close lets the namespace go once its processes have ended: its threads
// end, and with them any process still running that one of them started.
func (l *Lab) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	for _, t := range l.idle {
		close(t.work)
	}
	l.idle = nil
	if l.fd >= 0 {
		_ = unix.Close(l.fd)
		l.fd = -1
	}
}
