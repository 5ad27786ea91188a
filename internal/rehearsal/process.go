package rehearsal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// proc is one running etcd process: a node's, or the discovery endpoint's.
type proc struct {
	name string
	dir  string // the node's disk: data dir and log
	bin  string
	args []string
	env  []string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// dataDir is where the process keeps its state: the node's disk.
func (p *proc) dataDir() string { return filepath.Join(p.dir, "data") }

func (p *proc) logPath() string { return filepath.Join(p.dir, "etcd.log") }

// start runs the process in its own process group, logging to dir/etcd.log.
// It keeps the data dir across restarts, as a machine keeps its disk.
func (p *proc) start() error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	log, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = p.dir
	// Only what the node's config sets, and the node's disk: nothing of the
	// caller's environment (an ETCD_* there would change the node).
	cmd.Env = append([]string{"ETCD_DATA_DIR=" + p.dataDir()}, p.env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(p.done)
	return nil
}

// running reports whether the process is started and has not exited.
func (p *proc) running() bool {
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

// stop ends the process group: SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if !p.running() {
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

// logTail is the end of the process's log, for evidence.
func (p *proc) logTail(lines int) string {
	b, err := os.ReadFile(p.logPath())
	if err != nil {
		return ""
	}
	all := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return string(bytes.Join(all[max(0, len(all)-lines):], []byte("\n")))
}

// exitError says how the process ended, or nil while it runs.
func (p *proc) exitError() error {
	if p.running() || p.cmd == nil {
		return nil
	}
	if st := p.cmd.ProcessState; st != nil {
		return fmt.Errorf("%s exited: %s", p.name, st)
	}
	return errors.New(p.name + " exited")
}
