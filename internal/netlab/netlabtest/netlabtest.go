// Package netlabtest runs a test binary again as an ordinary user, so that
// tests run as root (CI) prove what a developer without root gets: labs in
// a user namespace of the program's own (netlab.Reexec).
package netlabtest

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/isolatedetcd/cluster/internal/netlab"
)

// Nobody is the ordinary user the tests run as.
const Nobody = 65534

// Home makes a home directory of Nobody's own in a new temporary directory
// (removed when tb ends), whose cache holds, linked, the binaries this
// process's user cache has built (etcd, its tools, rclone), so that the run
// builds nothing it has. Root only (not root of a user namespace of its
// own, where uid 65534 does not exist): it skips otherwise.
func Home(tb testing.TB) string {
	tb.Helper()
	if !netlab.CanRunAs(Nobody) {
		tb.Skip("runs as root only: it starts a test as an ordinary user (uid 65534); run by an ordinary user, every test runs so already")
	}
	base, err := os.MkdirTemp("", "as-nobody-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		tb.Fatal(err)
	}
	home := filepath.Join(base, "home")
	mine := func(path string) {
		if err := os.MkdirAll(path, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chown(path, Nobody, Nobody); err != nil {
			tb.Fatal(err)
		}
	}
	mine(home)
	mine(filepath.Join(home, ".cache"))
	cache, err := os.UserCacheDir()
	if err != nil {
		return home
	}
	src := filepath.Join(cache, "isolated-etcd")
	dst := filepath.Join(home, ".cache", "isolated-etcd")
	mine(dst)
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == src {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if strings.HasPrefix(d.Name(), "src-") {
			return filepath.SkipDir // a build under way
		}
		if d.IsDir() {
			mine(filepath.Join(dst, rel))
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		// Linked, never chowned: the link is the cache's own file.
		if err := os.Link(path, filepath.Join(dst, rel)); err != nil {
			return copyFile(path, filepath.Join(dst, rel))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	return home
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Command is this test binary, copied where Nobody can run it, to be run
// as Nobody with args from dir, with home as HOME (Home) and its caches
// there, the caller's PATH, and env added.
func Command(tb testing.TB, home, dir string, env []string, args ...string) *exec.Cmd {
	tb.Helper()
	bin := filepath.Join(filepath.Dir(home), "bin", filepath.Base(os.Args[0]))
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := copyFile(os.Args[0], bin); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{
		"HOME=" + home, "USER=nobody", "LOGNAME=nobody", "PATH=" + os.Getenv("PATH"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"GOCACHE=" + filepath.Join(home, ".cache", "go-build"), "GOPATH=" + filepath.Join(home, "go"),
		"GOPROXY=" + os.Getenv("GOPROXY"), "GOTOOLCHAIN=local",
	}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody, Groups: []uint32{}},
		Pdeathsig:  syscall.SIGTERM,
	}
	return cmd
}

// envRefuse, set, has Main refuse user namespaces to its process.
const envRefuse = "NETLABTEST_REFUSE_USER_NAMESPACES"

// Refusing is Command run where the kernel refuses Nobody a user namespace:
// in one of its own, made by root, that maps uids 0 to 65535 as they are,
// whose user.max_user_namespaces is 0, as on a machine that sets it so.
// Main, first in the binary's TestMain, sets that and becomes Nobody.
func Refusing(tb testing.TB, home, dir string, env []string, args ...string) *exec.Cmd {
	tb.Helper()
	cmd := Command(tb, home, dir, append(env, envRefuse+"=1"), args...)
	ids := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, UidMappings: ids, GidMappings: ids,
		GidMappingsEnableSetgroups: true, Pdeathsig: syscall.SIGTERM}
	return cmd
}

// Main is for TestMain, before netlab.Reexec. In a process Refusing
// started, it refuses user namespaces to this user namespace (root may set
// its own limit), becomes Nobody and runs the test binary again; it returns
// everywhere else.
func Main() {
	if os.Getenv(envRefuse) == "" {
		return
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "netlabtest: refusing user namespaces, as uid", Nobody, ":", err)
		os.Exit(3)
	}
	if err := os.Unsetenv(envRefuse); err != nil {
		fail(err)
	}
	if err := os.WriteFile("/proc/sys/user/max_user_namespaces", []byte("0\n"), 0); err != nil {
		fail(err)
	}
	for _, err := range []error{syscall.Setgroups(nil), syscall.Setgid(Nobody), syscall.Setuid(Nobody)} {
		if err != nil {
			fail(err)
		}
	}
	fail(syscall.Exec("/proc/self/exe", os.Args, os.Environ()))
}
