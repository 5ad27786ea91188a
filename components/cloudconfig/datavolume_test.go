package cloudconfig_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/coreos-cloudinit/config"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// loopDevice attaches a blank file as a block device, or skips where the
// machine has no loop devices or no root.
func loopDevice(t *testing.T) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "volume.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 32<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device here (needs root): %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "--detach", dev).Run() })
	return dev
}

func blkid(t *testing.T, dev, tag string) string {
	out, _ := exec.Command("blkid", "-p", "-o", "value", "-s", tag, dev).Output()
	return strings.TrimSpace(string(out))
}

// TestDataVolumeScript runs the script a central node's cloud-config installs,
// read out of the rendered cloud-config by coreos-cloudinit's own parser, on a
// real block device: it formats a blank volume once and never again.
func TestDataVolumeScript(t *testing.T) {
	for _, f := range cloudconfig.Flavors {
		t.Run(string(f), func(t *testing.T) {
			c := cloudconfig.Settings{Flavor: f, WorkerProxy: f.DefaultWorkerProxy(), EtcdVersion: cloudconfig.Etcd36, DiscoveryURL: discoveryURL}
			if f == cloudconfig.Flatcar {
				c.Housekeeping = housekeeping
			}
			dev := loopDevice(t)
			text, err := c.Central("etcd-dev-central-0", dev)
			if err != nil {
				t.Fatal(err)
			}
			cc, err := config.NewCloudConfig(text)
			if err != nil {
				t.Fatal(err)
			}
			var script string
			for _, wf := range cc.WriteFiles {
				if wf.Path == "/opt/bin/etcd-data-volume" {
					script = wf.Content
				}
			}
			if script == "" {
				t.Fatal("no /opt/bin/etcd-data-volume in the cloud-config")
			}
			path := filepath.Join(t.TempDir(), "etcd-data-volume")
			if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			run := func() string {
				out, err := exec.Command(path, dev).CombinedOutput()
				if err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				return string(out)
			}

			// The node's etcd user (uid 232 on Container Linux) gets the new
			// filesystem; a stand-in id answers for the user this machine lacks.
			bin := t.TempDir()
			if err := os.WriteFile(filepath.Join(bin, "id"), []byte("#!/bin/sh\ncase \"$*\" in etcd|\"-u etcd\"|\"-g etcd\") echo 232 ;; *) exit 1 ;; esac\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(path, dev)
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if out, _ := exec.Command("debugfs", "-R", "stat /", dev).CombinedOutput(); !strings.Contains(string(out), "User:   232") {
				t.Errorf("the new filesystem's root is not owned by the etcd user:\n%s", out)
			}
			if got := blkid(t, dev, "LABEL"); got != "etcd-data" {
				t.Fatalf("blank volume not formatted: label %q", got)
			}
			uuid := blkid(t, dev, "UUID")
			if out := run(); !strings.Contains(out, "keeping it") || blkid(t, dev, "UUID") != uuid {
				t.Fatalf("second run reformatted the volume (uuid %s -> %s): %s", uuid, blkid(t, dev, "UUID"), out)
			}

			other := loopDevice(t)
			if out, err := exec.Command("mkfs.ext4", "-q", "-L", "other-data", other).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if out, err := exec.Command(path, other).CombinedOutput(); err != nil || blkid(t, other, "LABEL") != "other-data" {
				t.Fatalf("a volume holding another filesystem must be left alone: %v: %s", err, out)
			}
		})
	}
}
