package rehearsal

import "syscall"

// sysProcAttr puts an etcd process in its own process group, so a terminal's
// Ctrl-C reaches only the rehearsal, which then stops every process it
// started, and has the kernel kill it if the rehearsal itself dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
