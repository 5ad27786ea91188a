package netlab_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isolatedetcd/cluster/internal/netlab"
)

// TestLab: a server on a cloud address inside the lab is reachable from
// inside, sees connections from 127.0.0.1, and does not exist outside.
func TestLab(t *testing.T) {
	if err := netlab.Available(); err != nil {
		t.Skip(err)
	}
	lab, err := netlab.New([]string{"10.21.0.10", "10.21.16.10"}, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	var l net.Listener
	if err := lab.Do(func() error { var err error; l, err = net.Listen("tcp", "10.21.16.10:2380"); return err }); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	from := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			from <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			c.Close()
		}
	}()
	c, err := lab.DialContext(context.Background(), "tcp", "10.21.16.10:2380")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := <-from; got != "127.0.0.1" {
		t.Errorf("connection from %s, want 127.0.0.1", got)
	}
	// Outside, the address is not this machine's (some sandboxes accept
	// any outbound connection, so dialling it proves nothing).
	if l, err := net.Listen("tcp", "10.21.16.10:0"); err == nil {
		l.Close()
		t.Error("the lab's address is the host's too")
	}
}

// TestLabNames: processes started in the lab, and dials from it, resolve
// the lab's names.
func TestLabNames(t *testing.T) {
	if err := netlab.Available(); err != nil {
		t.Skip(err)
	}
	lab, err := netlab.New([]string{"10.21.0.10"}, map[string]string{"etcd-dev-central-0.etcd.example.com": "10.21.0.10"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	var out []byte
	err = lab.Do(func() error {
		bin, args := lab.Command("getent", []string{"hosts", "etcd-dev-central-0.etcd.example.com"})
		var err error
		out, err = exec.Command(bin, args...).CombinedOutput()
		return err
	})
	if err != nil || !strings.HasPrefix(string(out), "10.21.0.10 ") {
		t.Fatalf("getent in the lab: %q %v", out, err)
	}
	if b, _ := os.ReadFile("/etc/hosts"); strings.Contains(string(b), "etcd.example.com") {
		t.Error("the host's /etc/hosts names the lab's hosts")
	}
	var l net.Listener
	if err := lab.Do(func() error { var err error; l, err = net.Listen("tcp", "10.21.0.10:2379"); return err }); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := lab.DialContext(context.Background(), "tcp", "etcd-dev-central-0.etcd.example.com:2379")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestLabAdd: an address and name added to a running lab are the lab's,
// also for a process started before they were added.
func TestLabAdd(t *testing.T) {
	if err := netlab.Available(); err != nil {
		t.Skip(err)
	}
	const first, later, name = "10.21.0.10", "10.21.0.14", "etcd-dev-central-4.etcd.example.com"
	lab, err := netlab.New([]string{first}, map[string]string{"etcd-dev-central-0.etcd.example.com": first}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	var out strings.Builder
	cmd := new(exec.Cmd)
	var stdin interface{ Close() error }
	err = lab.Do(func() error {
		bin, args := lab.Command("sh", []string{"-c", "read _; getent hosts " + name})
		cmd = exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		w, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		stdin = w
		return cmd.Start()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Add([]string{later}, map[string]string{name: later}); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil || !strings.HasPrefix(out.String(), later+" ") {
		t.Errorf("a process started before the name was added: %q %v", out.String(), err)
	}
	var l net.Listener
	if err := lab.Do(func() error { var err error; l, err = net.Listen("tcp", later+":2379"); return err }); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := lab.DialContext(context.Background(), "tcp", name+":2379")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := (&netlab.Lab{}).Add(nil, map[string]string{name: later}); err == nil {
		t.Error("names added to a lab made without any: no error")
	}
}

// TestVeth: two labs joined by a veth pair, with addresses and a route,
// reach each other through a third that forwards, and only while it does.
func TestVeth(t *testing.T) {
	if err := netlab.Available(); err != nil {
		t.Skip(err)
	}
	var labs [3]*netlab.Lab
	for i := range labs {
		l, err := netlab.New(nil, nil, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		labs[i] = l
	}
	a, router, b := labs[0], labs[1], labs[2]
	for _, err := range []error{
		a.Veth("eth0", router, "a0"), router.Veth("b0", b, "eth0"),
		a.IP("addr", "add", "10.1.0.2/24", "dev", "eth0"), router.IP("addr", "add", "10.1.0.1/24", "dev", "a0"),
		router.IP("addr", "add", "10.2.0.1/24", "dev", "b0"), b.IP("addr", "add", "10.2.0.2/24", "dev", "eth0"),
		a.IP("route", "add", "default", "via", "10.1.0.1"), b.IP("route", "add", "default", "via", "10.2.0.1"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	var l net.Listener
	if err := b.Do(func() error { var err error; l, err = net.Listen("tcp", "10.2.0.2:80"); return err }); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dial := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := a.DialContext(ctx, "tcp", "10.2.0.2:80")
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := router.Sysctl("net.ipv4.ip_forward", "0"); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err == nil {
		t.Error("reached b through a router that does not forward")
	}
	if err := router.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err != nil {
		t.Errorf("through a forwarding router: %v", err)
	}
	if err := router.Sysctl("kernel.hostname", "x"); err == nil {
		t.Error("a setting outside net.* was written")
	}
}

// TestOnHostOutlivesLabs: a process started through OnHost, asking to be
// killed when its parent goes, outlives labs that open and close around
// it. Started from an ordinary goroutine, its thread may be the one the
// next lab locks and ends on Close, and the process would go with it.
func TestOnHostOutlivesLabs(t *testing.T) {
	if err := netlab.Available(); err != nil {
		t.Skip(err)
	}
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := netlab.OnHost(cmd.Start); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() { _ = cmd.Process.Kill(); <-done }()
	for range 10 {
		lab, err := netlab.New([]string{"10.99.0.1"}, nil, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if err := lab.Do(func() error { return nil }); err != nil {
			t.Fatal(err)
		}
		lab.Close()
	}
	select {
	case <-done:
		t.Fatalf("the process started on the host died with a lab: %v", cmd.ProcessState)
	case <-time.After(500 * time.Millisecond):
	}
}
