//go:build !linux

package localetcd

import "syscall"

// sysProcAttr puts an etcd process in its own process group, so a terminal's
// Ctrl-C reaches only the rehearsal, which then stops every process it started.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// TempFS names the file system of the temporary directory: unknown here.
func TempFS() string { return "unknown" }
