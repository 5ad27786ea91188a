package nodescript

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/isolatedetcd/cluster/internal/netlab"
	"github.com/isolatedetcd/cluster/internal/nodeboot"
)

// Node is the machine a script runs on.
type Node struct {
	// Dir is the node's directory: its files under Dir/root (nodeboot.RootDir),
	// etcd's data in Dir/data.
	Dir string
	// Addr is the node's loopback address: what 127.0.0.1 is on the node.
	Addr string
	// Lab, set, is the network the node lives in.
	Lab *netlab.Lab
}

// DataDir is where the node's etcd keeps its data, /var/lib/etcd on the node.
func (n Node) DataDir() string { return filepath.Join(n.Dir, "data") }

// Root is where the node's files are, at their paths below it.
func (n Node) Root() string { return filepath.Join(n.Dir, nodeboot.RootDir) }

// Flatcar's etcd user and group, which own the member's data.
const (
	EtcdUID = 232
	EtcdGID = 232
)

// etcdIDs are the uid and gid the node's etcd user has here: Flatcar's, or
// 0 in a user namespace of the program's own (netlab.Reexec), where no
// other uid exists and a chown to Flatcar's would fail. Only the owner of
// the member's data differs; as root, the tests check it is Flatcar's.
func etcdIDs() (int, int) {
	if netlab.CanRunAs(EtcdUID) {
		return EtcdUID, EtcdGID
	}
	return 0, 0
}

// scriptPath is PATH as systemd gives a service, less /usr/local: here it
// is this machine's own (which may hold a real docker), not the node's.
const scriptPath = "/usr/sbin:/usr/bin:/sbin:/bin"

// Available reports why scripts cannot run here, or nil.
func Available() error {
	if _, inside := netlab.Outside(); os.Geteuid() != 0 || inside {
		if err := netlab.Available(); err != nil {
			return fmt.Errorf("nodescript: mount namespaces and overlay mounts: %w", err)
		}
	}
	for _, bin := range []string{"unshare", "mount", "bash", "env"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("nodescript: needs %s: %w", bin, err)
		}
	}
	fs, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(fs), "\toverlay\n") {
		return errors.New("nodescript: needs the overlay file system")
	}
	for _, d := range overlaid {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return fmt.Errorf("nodescript: needs a directory %s on this machine to mount over", d)
		}
	}
	return nil
}

// overlaid are the host directories the node's own cover. Writes under
// them land in the node's root; /usr/bin is read-only and adds docker.
var overlaid = []string{"/etc", "/opt", "/var/lib", "/usr/bin"}

// Run runs the script at path on the node (/opt/bin/etcd-backup) as its OS
// would: as root, by its own interpreter line, with systemd's PATH, in a
// mount namespace of its own where the node's files are at their paths,
// /var/lib/etcd is the node's data and /usr/bin/docker runs t's tools. It
// returns the script's output (stdout and stderr) and how it ended. One
// script at a time per node.
func Run(ctx context.Context, t Tools, n Node, path string) (string, error) {
	if err := Available(); err != nil {
		return "", err
	}
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("nodescript: %q is not a path on the node", path)
	}
	dir, err := filepath.Abs(n.Dir)
	if err != nil {
		return "", err
	}
	// Overlay options split on these, and a node inside the directories it
	// covers would cover itself.
	if strings.ContainsAny(dir, ",:= \t\n\\") {
		return "", fmt.Errorf("nodescript: node directory %q holds a character mount options cannot carry", dir)
	}
	for _, d := range overlaid {
		if dir == d || strings.HasPrefix(dir, d+"/") {
			return "", fmt.Errorf("nodescript: node directory %s is inside %s, which the node's own covers", dir, d)
		}
	}
	if n.Addr == "" {
		return "", errors.New("nodescript: the node has no loopback address")
	}
	for _, d := range []string{"etc", "opt", "var/lib"} {
		if err := os.MkdirAll(filepath.Join(dir, nodeboot.RootDir, d), 0o755); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return "", err
	}
	// The run's own layers and overlay work directories, which must share
	// the node's file system.
	run, err := os.MkdirTemp(dir, ".nodescript-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(run)
	if err := layers(t, n.Addr, run, Node{Dir: dir}.systemctlLog()); err != nil {
		return "", err
	}
	args := []string{"--mount", "--propagation", "private", "--", "bash", "-c", setup, "nodescript", dir, run, path}
	bin, args := "unshare", args
	if n.Lab != nil {
		bin, args = n.Lab.Command(bin, args)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=" + scriptPath}
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := cmd.Start
	if n.Lab != nil {
		err = n.Lab.Do(start)
	} else {
		err = netlab.OnHost(start)
	}
	if err != nil {
		return "", fmt.Errorf("nodescript: %s: %w", path, err)
	}
	if err := cmd.Wait(); err != nil {
		return out.String(), fmt.Errorf("nodescript: %s on %s: %w", path, dir, err)
	}
	return out.String(), nil
}

// layers writes the run's own files: /etc's passwd and group with
// Flatcar's etcd user, and docker and systemctl for /usr/bin.
func layers(t Tools, addr, run, systemctlLog string) error {
	for _, d := range []string{"etc", "usrbin", "home", "work/etc", "work/opt", "work/varlib", "stage"} {
		if err := os.MkdirAll(filepath.Join(run, d), 0o755); err != nil {
			return err
		}
	}
	uid, gid := etcdIDs()
	for name, line := range map[string]string{
		"passwd": fmt.Sprintf("etcd:x:%d:%d:etcd user:/var/lib/etcd:/sbin/nologin\n", uid, gid),
		"group":  fmt.Sprintf("etcd:x:%d:\n", gid),
	} {
		host, err := os.ReadFile(filepath.Join("/etc", name))
		if err != nil {
			return err
		}
		var b strings.Builder
		for l := range strings.Lines(string(host)) {
			if !strings.HasPrefix(l, "etcd:") {
				b.WriteString(strings.TrimSuffix(l, "\n") + "\n")
			}
		}
		b.WriteString(line)
		if err := os.WriteFile(filepath.Join(run, "etc", name), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	docker := shim(t, addr, filepath.Join(run, "home"), filepath.Join(run, "no-rclone-config", "rclone.conf"))
	if err := os.WriteFile(filepath.Join(run, "usrbin", "systemctl"), []byte(fmt.Sprintf(systemctlShim, q(systemctlLog))), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(run, "usrbin", "docker"), []byte(docker), 0o755)
}

// systemctlShim is the systemctl the node's scripts find: no systemd runs
// the node's units here, so it records what was asked, for the caller to
// do to the node's processes (Systemctl), and does nothing else.
const systemctlShim = `#!/bin/bash
echo "$*" >>%s
`

// systemctlLog is where the node's scripts' systemctl calls are recorded.
func (n Node) systemctlLog() string { return filepath.Join(n.Dir, "systemctl.log") }

// Systemctl is what the node's scripts asked systemctl, one call a line,
// oldest first.
func Systemctl(n Node) ([]string, error) {
	b, err := os.ReadFile(n.systemctlLog())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"), err
}

// setup runs in the private mount namespace: $1 the node's directory, $2
// the run's, $3 the script. Mounts already under the covered directories
// (a container's /etc/hosts, a lab's) are set aside and put back on top.
const setup = `set -euo pipefail
node=$1 run=$2 script=$3
covered=()
while read -r _ _ _ _ mp _; do
  case $mp in /etc/*|/opt/*|/var/lib/*|/usr/bin/*) ;; *) continue ;; esac
  [[ $mp != *\\* ]] || { echo "nodescript: cannot set aside mount $mp" >&2; exit 1; }
  i=${#covered[@]}
  if [ -d "$mp" ]; then mkdir "$run/stage/$i"; else touch "$run/stage/$i"; fi
  mount -n --bind "$mp" "$run/stage/$i"
  covered+=("$mp")
done </proc/self/mountinfo
mount -n -t overlay nodescript-etc -o "lowerdir=$run/etc:/etc,upperdir=$node/root/etc,workdir=$run/work/etc" /etc
mount -n -t overlay nodescript-opt -o "lowerdir=/opt,upperdir=$node/root/opt,workdir=$run/work/opt" /opt
mount -n -t overlay nodescript-varlib -o "lowerdir=/var/lib,upperdir=$node/root/var/lib,workdir=$run/work/varlib" /var/lib
mkdir -p /var/lib/etcd
mount -n --bind "$node/data" /var/lib/etcd
mount -n -t overlay nodescript-usrbin -o "lowerdir=$run/usrbin:/usr/bin" /usr/bin
for i in "${!covered[@]}"; do
  mount -n --bind "$run/stage/$i" "${covered[$i]}"
done
cd /
exec "$script"
`
