package netlab_test

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isolatedetcd/cluster/internal/netlab"
	"github.com/isolatedetcd/cluster/internal/netlab/netlabtest"
)

// TestMain runs the tests, for an ordinary user, in a user namespace of
// their own (netlab.Reexec), where they make labs as root does.
func TestMain(m *testing.M) {
	netlabtest.Main()
	netlab.Reexec()
	os.Exit(m.Run())
}

// TestReexec: the tests run as root or, for an ordinary user, as root of a
// user namespace mapping that user alone, where no other uid exists.
func TestReexec(t *testing.T) {
	outside, ok := netlab.Outside()
	switch {
	case ok:
		if os.Geteuid() != 0 || !netlab.CanRunAs(0) || netlab.CanRunAs(netlabtest.Nobody) || netlab.CanRunAs(232) {
			t.Errorf("in a user namespace: euid %d, can run as 0: %v, as %d: %v, as 232: %v; want root of a one-uid map",
				os.Geteuid(), netlab.CanRunAs(0), netlabtest.Nobody, netlab.CanRunAs(netlabtest.Nobody), netlab.CanRunAs(232))
		}
		b, _ := os.ReadFile("/proc/self/uid_map")
		t.Logf("uid %s outside, root inside (uid_map %q)", outside, strings.TrimSpace(string(b)))
	case os.Geteuid() == 0:
		if !netlab.CanRunAs(netlabtest.Nobody) {
			t.Errorf("root cannot run as %d", netlabtest.Nobody)
		}
	default:
		t.Skipf("neither root nor in a user namespace of its own: %v", netlab.Available())
	}
}

// TestLabKeepsProcesses: a process started in a lab lives on while the lab
// does other work, and no longer than the lab: its threads, which never
// go back to the host's namespace, end when it closes, and with them the
// processes they started with a parent-death signal, as every etcd is.
func TestLabKeepsProcesses(t *testing.T) {
	if err := netlab.Available(); err != nil {
		t.Skip(err)
	}
	lab, err := netlab.New([]string{"10.21.0.10"}, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := lab.Do(cmd.Start); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()
	for i := range 20 {
		if err := lab.IP("addr", "add", fmt.Sprintf("10.21.1.%d/32", i+1), "dev", "lo"); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-exited:
		t.Fatalf("the process started in the lab ended while the lab worked on: %v", err)
	case <-time.After(time.Second):
	}
	lab.Close()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the process started in the lab outlived it")
	}
	if err := lab.Do(func() error { return nil }); err == nil {
		t.Error("a closed lab did work")
	}
}

// TestLabsAsOrdinaryUser runs the lab's tests again as an ordinary user
// (uid 65534): they make their labs in a user namespace of their own, and
// pass, none skipped. Root only: as an ordinary user they run so anyway.
func TestLabsAsOrdinaryUser(t *testing.T) {
	home := netlabtest.Home(t)
	tests := []string{"TestReexec", "TestLab", "TestLabNames", "TestVeth", "TestLabKeepsProcesses"}
	cmd := netlabtest.Command(t, home, home, nil, "-test.run", "^("+strings.Join(tests, "|")+")$", "-test.v", "-test.count=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as uid %d: %v\n%s", netlabtest.Nobody, err, out)
	}
	for _, name := range tests {
		if !regexp.MustCompile(`(?m)^--- PASS: ` + name + ` `).Match(out) {
			t.Errorf("as uid %d, %s did not pass:\n%s", netlabtest.Nobody, name, out)
		}
	}
	if want := fmt.Sprintf("uid %d:%d outside, root inside", netlabtest.Nobody, netlabtest.Nobody); !strings.Contains(string(out), want) {
		t.Errorf("as uid %d, the tests did not run in a user namespace of their own (no %q):\n%s", netlabtest.Nobody, want, out)
	}
}

// TestRefusal: where the kernel refuses an ordinary user a user namespace,
// Reexec returns and the program carries on without one: Available says
// why, with the setting that allows them, and no lab can be made.
func TestRefusal(t *testing.T) {
	err := netlab.Available()
	if os.Geteuid() == 0 || err == nil {
		t.Skip("labs can be made here; TestLabsWhereUserNamespacesAreRefused runs this where they cannot")
	}
	t.Log(err)
	if msg := err.Error(); !strings.Contains(msg, "the kernel refuses an ordinary user a user namespace") || !strings.Contains(msg, "sysctl -w ") && !strings.Contains(msg, "seccomp") {
		t.Errorf("Available() = %v; want the kernel's refusal and the setting that allows them", err)
	}
	if lab, err := netlab.New(nil, nil, t.TempDir()); err == nil {
		lab.Close()
		t.Error("a lab was made where Available says none can be")
	}
	if netlab.CanRunAs(0) {
		t.Error("an ordinary user can run as root")
	}
}

// TestLabsWhereUserNamespacesAreRefused runs TestRefusal as an ordinary
// user (uid 65534) whose kernel refuses user namespaces
// (user.max_user_namespaces 0 in the namespace it runs in): it must run,
// not skip, and name that setting. Root only.
func TestLabsWhereUserNamespacesAreRefused(t *testing.T) {
	home := netlabtest.Home(t)
	out, err := netlabtest.Refusing(t, home, home, nil, "-test.run", "^(TestRefusal|TestLab)$", "-test.v", "-test.count=1").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("as uid %d, user namespaces refused:\n%s", netlabtest.Nobody, out)
	for _, want := range []string{"--- PASS: TestRefusal ", "--- SKIP: TestLab ", "user.max_user_namespaces is 0 here; allow them with sysctl -w user.max_user_namespaces="} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}
