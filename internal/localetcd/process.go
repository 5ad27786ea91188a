package localetcd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/isolatedetcd/cluster/internal/netlab"
)

// Proc is one running etcd process: a node's, or the discovery endpoint's.
type Proc struct {
	name string
	dir  string // the node's disk: data dir and log
	bin  string
	args []string
	env  []string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	// lab, when set, is the network the process starts in.
	lab *netlab.Lab
}

// NewProc describes the process called name that runs bin with args and
// exactly env, keeping its data and log in dir; Start runs it.
func NewProc(name, dir, bin string, args, env []string) *Proc {
	return &Proc{name: name, dir: dir, bin: bin, args: args, env: env}
}

// Restarted describes the process the same node runs next, with bin, args
// and env: the same name, disk and network.
func (p *Proc) Restarted(bin string, args, env []string) *Proc {
	next := NewProc(p.name, p.dir, bin, args, env)
	next.lab = p.lab
	return next
}

// Dir is the process's directory: its node's disk.
func (p *Proc) Dir() string { return p.dir }

// Name is the process's name: its node's.
func (p *Proc) Name() string { return p.name }

// DataDir is where the process keeps its state: the node's disk.
func (p *Proc) DataDir() string { return filepath.Join(p.dir, "data") }

func (p *Proc) LogPath() string { return filepath.Join(p.dir, "etcd.log") }

// Start runs the process in its own process group, logging to dir/etcd.log,
// inside its lab if it has one. It keeps the data dir across restarts, as a
// machine keeps its disk.
func (p *Proc) Start() error {
	if p.lab != nil {
		return p.lab.Do(p.start)
	}
	return netlab.OnHost(p.start)
}

func (p *Proc) start() error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	log, err := os.OpenFile(p.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	bin, args := p.bin, p.args
	if p.lab != nil {
		bin, args = p.lab.Command(bin, args)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = p.dir
	// Only what the node's config sets, and the node's disk: nothing of the
	// caller's environment (an ETCD_* there would change the node).
	cmd.Env = append([]string{"ETCD_DATA_DIR=" + p.DataDir()}, p.env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(p.done)
	return nil
}

// Running reports whether the process is started and has not exited.
func (p *Proc) Running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop ends the process group: SIGTERM, then SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) {
	if !p.Running() {
		return
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
}

// Kill ends the process group at once with SIGKILL, as a machine that
// loses power, and waits (at most grace) until the process has exited.
func (p *Proc) Kill(grace time.Duration) error {
	if !p.Running() {
		return fmt.Errorf("%s is not running", p.name)
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		return fmt.Errorf("%s still running %s after SIGKILL", p.name, grace)
	}
}

// LogTail is the end of the process's log, for evidence.
func (p *Proc) LogTail(lines int) string {
	b, err := os.ReadFile(p.LogPath())
	if err != nil {
		return ""
	}
	all := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return string(bytes.Join(all[max(0, len(all)-lines):], []byte("\n")))
}

// ExitError says how the process ended, or that it never started, or nil
// while it runs.
func (p *Proc) ExitError() error {
	if p.cmd == nil {
		return errors.New(p.name + " was never started")
	}
	if p.Running() {
		return nil
	}
	if st := p.cmd.ProcessState; st != nil {
		return fmt.Errorf("%s exited: %s", p.name, st)
	}
	return errors.New(p.name + " exited")
}

// LogSize is how long the process's log is now, to read what a later start
// writes with LogSince.
func LogSize(p *Proc) int64 {
	fi, err := os.Stat(p.LogPath())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// LogSince is the process's log from offset on.
func LogSince(p *Proc, offset int64) string {
	b, err := os.ReadFile(p.LogPath())
	if err != nil || offset > int64(len(b)) {
		return ""
	}
	return string(b[offset:])
}

// LastWarnings are the messages of the last n warning or error lines of an
// etcd log (JSON lines), for evidence.
func LastWarnings(log string, n int) string {
	var msgs []string
	for line := range strings.Lines(log) {
		var l struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &l) == nil && (l.Level == "warn" || l.Level == "error" || l.Level == "fatal") {
			msgs = append(msgs, l.Msg)
		}
	}
	return strings.Join(msgs[max(0, len(msgs)-n):], ", ")
}
