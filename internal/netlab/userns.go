package netlab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// envOutside is set in the program Reexec runs again: the uid and gid it
// has outside its user namespace ("1000:1000").
const envOutside = "ISOLATED_ETCD_USERNS_OUTSIDE"

// refused is why this process, not root, could not run again in a user
// namespace of its own; nil when Reexec has not tried, or did.
var refused error

// Reexec runs this program again, with the same arguments, standard
// streams and environment, in a user namespace of its own that maps the
// caller's uid and gid to 0, when it is not root: there it is root over
// the network and mount namespaces it makes, and nothing more (as rootless
// container tools do: CLONE_NEWUSER with a one-uid map, which needs no
// helper such as newuidmap). It stays in this machine's network namespace:
// loopback, the Go module proxy and the package mirrors are reached as
// before. Call it first in main, or in TestMain.
//
// It does not return when it ran the program again: it exits with its
// status, passing on the signals it gets. It returns in a root process, in
// the program run again, and where the kernel refuses the namespace: then
// Available says why, and which setting allows it.
func Reexec() {
	if os.Geteuid() == 0 {
		return
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%d", envOutside, os.Geteuid(), os.Getegid()))
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		// An unprivileged gid map needs setgroups denied first.
		GidMappingsEnableSetgroups: false,
		// Killed with this process: the program cleans up on SIGTERM.
		Pdeathsig: syscall.SIGTERM,
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	if err := cmd.Start(); err != nil {
		signal.Stop(sigs)
		refused = explain(fmt.Errorf("a user namespace: %w", err))
		return
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		os.Exit(0)
	case errors.As(err, &exit):
		if st, ok := exit.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			os.Exit(128 + int(st.Signal()))
		}
		os.Exit(exit.ExitCode())
	default:
		fmt.Fprintf(os.Stderr, "%s in its user namespace: %v\n", os.Args[0], err)
		os.Exit(1)
	}
}

// explain is err, the kernel's refusal of what an ordinary user needs for
// a lab, with the setting that allows it.
func explain(err error) error {
	var hints []string
	for _, s := range []struct{ key, refuses, allows string }{
		{"kernel.unprivileged_userns_clone", "0", "sysctl -w kernel.unprivileged_userns_clone=1"},
		{"user.max_user_namespaces", "0", "sysctl -w user.max_user_namespaces=10000"},
		{"kernel.apparmor_restrict_unprivileged_userns", "1", "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile granting userns to this program"},
	} {
		if b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(s.key, ".", "/")); err == nil && strings.TrimSpace(string(b)) == s.refuses {
			hints = append(hints, fmt.Sprintf("%s is %s here; allow them with %s", s.key, s.refuses, s.allows))
		}
	}
	if len(hints) == 0 {
		hints = append(hints, "no setting this kernel shows refuses them (kernel.unprivileged_userns_clone, user.max_user_namespaces, kernel.apparmor_restrict_unprivileged_userns): a seccomp profile (a container's) may; or run as root")
	}
	return fmt.Errorf("not root, and the kernel refuses an ordinary user %v: %s", err, strings.Join(hints, "; "))
}

var (
	probeOnce sync.Once
	probeErr  error
)

// Available reports why labs cannot be made here, or nil: it makes one.
func Available() error {
	if refused != nil {
		return fmt.Errorf("netlab: %w", refused)
	}
	if os.Geteuid() != 0 {
		return errors.New("netlab: needs root, or a user namespace of the program's own (netlab.Reexec)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("netlab: needs iproute2's ip: %w", err)
	}
	probeOnce.Do(func() {
		l, err := New(nil, nil, "")
		if err != nil {
			if _, ok := Outside(); ok {
				err = explain(err)
			}
			probeErr = err
			return
		}
		l.Close()
	})
	return probeErr
}

// Outside is, in the program Reexec ran again, the uid and gid it has
// outside its user namespace ("1000:1000"), and true.
func Outside() (string, bool) {
	v := os.Getenv(envOutside)
	return v, v != "" && os.Geteuid() == 0
}

// CanRunAs reports whether this process can start processes as uid: root
// can, with every uid; in a user namespace of the program's own only its
// own uid is mapped, 0, and a process of any other uid cannot exist there.
func CanRunAs(uid int) bool {
	if os.Geteuid() != 0 {
		return false
	}
	f, err := os.Open("/proc/self/uid_map")
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) != 3 {
			continue
		}
		first, err1 := strconv.ParseUint(fields[0], 10, 32)
		count, err2 := strconv.ParseUint(fields[2], 10, 32)
		if err1 == nil && err2 == nil && uint64(uid) >= first && uint64(uid) < first+count {
			return true
		}
	}
	return false
}
