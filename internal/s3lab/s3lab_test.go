package s3lab_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isolatedetcd/cluster/internal/netlab"
	"github.com/isolatedetcd/cluster/internal/nodescript"
	"github.com/isolatedetcd/cluster/internal/s3lab"
)

// TestServer: rclone copyto with only the remote's environment lines
// uploads to the server, which List and the served directory both show,
// on loopback and inside a lab.
func TestServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rclone, err := nodescript.Rclone(ctx, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		lab  bool
		addr string
	}{
		{name: "loopback", addr: "127.0.0.1"},
		{name: "lab", lab: true, addr: "10.21.0.10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lab *netlab.Lab
			if tc.lab {
				if err := netlab.Available(); err != nil {
					t.Skip(err)
				}
				if lab, err = netlab.New([]string{tc.addr}, nil, t.TempDir()); err != nil {
					t.Fatal(err)
				}
				defer lab.Close()
			}
			dir := filepath.Join(t.TempDir(), "s3")
			s, err := s3lab.Start(ctx, s3lab.Config{Rclone: rclone, Dir: dir, Buckets: []string{"bkt"}, Addr: tc.addr, Lab: lab})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			src := filepath.Join(t.TempDir(), "snap.db")
			if err := os.WriteFile(src, []byte("snapshot bytes"), 0o600); err != nil {
				t.Fatal(err)
			}
			home := t.TempDir()
			cmd := exec.Command(rclone, "copyto", "--s3-no-check-bucket", src, "backup:bkt/pre/fix/snap.db")
			cmd.Env = append([]string{"HOME=" + home, "RCLONE_CONFIG=" + filepath.Join(home, "none")}, s.RemoteEnv("backup")...)
			var out []byte
			run := func() error { var err error; out, err = cmd.CombinedOutput(); return err }
			if lab != nil {
				err = lab.Do(run)
			} else {
				err = run()
			}
			if err != nil {
				t.Fatalf("rclone copyto: %v\n%s\nserver: %s", err, out, s.LogTail())
			}
			objs, err := s.List(ctx, "bkt")
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 1 || objs[0].Key != "bkt/pre/fix/snap.db" || objs[0].Size != 14 || time.Since(objs[0].ModTime) > time.Hour {
				t.Fatalf("objects %+v, want bkt/pre/fix/snap.db of 14 bytes", objs)
			}
			if b, err := os.ReadFile(filepath.Join(s.Dir(), "bkt/pre/fix/snap.db")); err != nil || string(b) != "snapshot bytes" {
				t.Fatalf("served file: %q %v", b, err)
			}
			if entries, _ := os.ReadDir(s.Dir()); len(entries) != 1 {
				t.Errorf("served directory holds %v, want only the bucket", entries)
			}
			// A wrong key is refused.
			bad := exec.Command(rclone, "lsjson", "backup:bkt")
			bad.Env = append([]string{"HOME=" + home, "RCLONE_CONFIG=" + filepath.Join(home, "none")}, append(s.RemoteEnv("backup"), "RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY=wrong", "RCLONE_LOW_LEVEL_RETRIES=1", "RCLONE_RETRIES=1")...)
			run = func() error { var err error; out, err = bad.CombinedOutput(); return err }
			if lab != nil {
				err = lab.Do(run)
			} else {
				err = run()
			}
			if err == nil || !strings.Contains(string(out), "SignatureDoesNotMatch") {
				t.Errorf("a wrong secret key: %v\n%s", err, out)
			}
		})
	}
}
