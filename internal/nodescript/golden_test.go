package nodescript_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/coreos/coreos-cloudinit/config"
	"gopkg.in/yaml.v3"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodescript"
	"github.com/isolatedetcd/cluster/internal/s3lab"
)

// TestGoldenRestore runs the restore script cloudconfig renders (its
// golden, whatever it now says) on a blank node: a real snapshot, gzipped
// and encrypted to another key, is refused and the data directory stays
// blank; encrypted to the golden's identity, it is downloaded, decrypted
// and leaves a member owned by etcd, and the identity leaves the disk; run
// again, it leaves the member alone.
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
	script, from, key := "", "", ""
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
		switch f.Path {
		case "/opt/bin/etcd-restore":
			script = string(content)
		case cloudconfig.RestoreIdentityFile:
			key = strings.TrimSpace(string(content))
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
	identity, err := age.ParseX25519Identity(key)
	if err != nil {
		t.Fatalf("the golden's %s: %v", cloudconfig.RestoreIdentityFile, err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stored, seal(t, snap, other.Recipient()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := nodescript.Run(ctx, tools, n, "/opt/bin/etcd-restore")
	if err == nil || !strings.Contains(out, "cannot decrypt") {
		t.Fatalf("golden etcd-restore of a snapshot for another key: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(n.DataDir()); len(entries) != 0 {
		t.Fatalf("the refused restore left %v in the data directory", entries)
	}
	if err := os.WriteFile(stored, seal(t, snap, identity.Recipient()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = nodescript.Run(ctx, tools, n, "/opt/bin/etcd-restore")
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
	if _, err := os.Stat(filepath.Join(n.Root(), cloudconfig.RestoreIdentityFile)); !os.IsNotExist(err) {
		t.Errorf("%s is still on the node after the restore (%v)", cloudconfig.RestoreIdentityFile, err)
	}
	if out, err := nodescript.Run(ctx, tools, n, "/opt/bin/etcd-restore"); err != nil || !strings.Contains(out, "not restoring over it") {
		t.Errorf("golden etcd-restore over data: %v\n%s", err, out)
	}
}

// seal is what a node's backup makes of a snapshot: gzip, then age to r.
func seal(t *testing.T, snapshot []byte, r age.Recipient) []byte {
	t.Helper()
	var zipped, sealed bytes.Buffer
	z := gzip.NewWriter(&zipped)
	if _, err := z.Write(snapshot); err != nil || z.Close() != nil {
		t.Fatal(err)
	}
	w, err := age.Encrypt(&sealed, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(zipped.Bytes()); err != nil || w.Close() != nil {
		t.Fatal(err)
	}
	return sealed.Bytes()
}
