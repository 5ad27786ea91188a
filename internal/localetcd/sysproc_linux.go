package localetcd

import (
	"fmt"
	"os"
	"syscall"
)

// sysProcAttr puts an etcd process in its own process group, so a terminal's
// Ctrl-C reaches only the rehearsal, which then stops every process it
// started, and has the kernel kill it if the rehearsal itself dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// TempFS names the file system of the temporary directory, where the nodes
// keep their data.
func TempFS() string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(os.TempDir(), &st); err != nil {
		return "unknown"
	}
	names := map[int64]string{0xEF53: "ext4", 0x01021994: "tmpfs", 0x794c7630: "overlayfs", 0x9123683E: "btrfs", 0x58465342: "xfs", 0x65735546: "fuse"}
	if n, ok := names[int64(st.Type)]; ok {
		return n + " (" + os.TempDir() + ")"
	}
	return fmt.Sprintf("type %#x (%s)", st.Type, os.TempDir())
}
