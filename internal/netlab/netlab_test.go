package netlab_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

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
