package nodescript_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/coreos-cloudinit/config"
	"gopkg.in/yaml.v3"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodescript"
	"github.com/isolatedetcd/cluster/internal/s3lab"
)

// TestGoldenRestore runs the restore script cloudconfig renders (its
// golden, whatever it now says) on a blank node: it downloads a real
// snapshot from S3 and leaves a member owned by etcd; run again, it leaves
// the member alone.
func TestGoldenRestore(t *testing.T) {
	if err := nodescript.Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b, err := os.ReadFile("../../components/cloudconfig/testdata/flatcar-etcd3.6-static-grpc-proxy-restore-central.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cc struct {
		WriteFiles []struct{ Path, Permissions, Content, Encoding string } `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(b, &cc); err != nil {
		t.Fatal(err)
	}
	release := cloudconfig.Etcd36.Release()
	tools, err := nodescript.Build(ctx, []string{release}, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	etcd, err := localetcd.Binary(ctx, release, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	s3, err := s3lab.Start(ctx, s3lab.Config{Rclone: tools.Rclone, Dir: filepath.Join(t.TempDir(), "s3")})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()

	n := nodescript.Node{Dir: t.TempDir(), Addr: "127.0.0.1"}
	script, from := "", ""
	for _, f := range cc.WriteFiles {
		mode, err := strconv.ParseUint(f.Permissions, 8, 32)
		if err != nil {
			t.Fatalf("%s: permissions %q", f.Path, f.Permissions)
		}
		// Scripts come gzip+base64, as coreos-cloudinit decodes them.
		content, err := config.DecodeContent(f.Content, f.Encoding)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		writeFile(t, n.Root(), f.Path, string(content), os.FileMode(mode))
		if f.Path == "/opt/bin/etcd-restore" {
			script = string(content)
		}
	}
	for l := range strings.Lines(script) {
		if strings.Contains(l, "copyto") {
			from = strings.Trim(strings.TrimPrefix(strings.Fields(l)[len(strings.Fields(l))-2], `"backup:`), `"`)
		}
	}
	if from == "" {
		t.Fatalf("no rclone copyto in the golden's etcd-restore:\n%s", script)
	}
	// The node's remote is the lab's S3 instead of the cloud's.
	writeFile(t, n.Root(), "/etc/etcd-backup.env", strings.Join(s3.RemoteEnv("backup"), "\n")+"\n", 0o600)

	// A real snapshot, taken by a member and stored where the golden looks.
	block, err := localetcd.FreeBlock()
	if err != nil {
		t.Fatal(err)
	}
	src := nodescript.Node{Dir: t.TempDir(), Addr: localetcd.CentralAddr(block, 0)}
	_, ep := startEtcd(t, etcd, "src", src.Dir, src.Addr, nil, nil)
	if err := ep.Put(ctx, "/k", "v"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, src.Root(), "/opt/bin/snap", "#!/bin/bash\nset -euo pipefail\nmkdir -p /var/lib/snap\n/usr/bin/docker run --rm --network=host --volume=/var/lib/snap:/var/lib/snap --entrypoint=/usr/local/bin/etcdctl "+cloudconfig.Etcd36.Image()+" --endpoints=http://127.0.0.1:2379 snapshot save /var/lib/snap/s.db\n", 0o755)
	if out, err := nodescript.Run(ctx, tools, src, "/opt/bin/snap"); err != nil {
		t.Fatalf("snapshot: %v\n%s", err, out)
	}
	snap, err := os.ReadFile(filepath.Join(src.Root(), "var/lib/snap/s.db"))
	if err != nil {
		t.Fatal(err)
	}
	stored := filepath.Join(s3.Dir(), from)
	if err := os.MkdirAll(filepath.Dir(stored), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stored, snap, 0o644); err != nil {
		t.Fatal(err)
	}

	out, err := nodescript.Run(ctx, tools, n, "/opt/bin/etcd-restore")
	if err != nil {
		t.Fatalf("golden etcd-restore: %v\n%s", err, out)
	}
	fi, err := os.Stat(filepath.Join(n.DataDir(), "member", "snap", "db"))
	if err != nil {
		t.Fatalf("no restored member: %v\n%s", err, out)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != nodescript.EtcdUID || st.Gid != nodescript.EtcdGID {
		t.Errorf("restored db owned by %d:%d, want etcd's", st.Uid, st.Gid)
	}
	if entries, _ := os.ReadDir(n.DataDir()); len(entries) != 1 {
		t.Errorf("data directory holds %v, want only member", entries)
	}
	if out, err := nodescript.Run(ctx, tools, n, "/opt/bin/etcd-restore"); err != nil || !strings.Contains(out, "not restoring over it") {
		t.Errorf("golden etcd-restore over data: %v\n%s", err, out)
	}
}
