package backupverify_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/backupverify"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodescript"
	"github.com/isolatedetcd/cluster/internal/s3lab"
)

// TestVerify stores real snapshots as the nodes store them (gzip, age to
// the cluster's recipient, a sha256 sidecar) in a real S3 API, and proves
// the newest: it restores and serves every key at the snapshot's revision.
// Then what must fail does, each naming the snapshot and the reason: a
// corrupt object, another cluster's identity, a sealed file that is no
// snapshot, a store with no snapshot.
func TestVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcd, etcdutl and rclone")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	release := cloudconfig.Etcd36.Release()
	built, err := nodescript.Build(ctx, []string{release}, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	etcd, err := localetcd.Binary(ctx, release, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	tools := backupverify.Tools{Rclone: built.Rclone, Etcdutl: built.Etcdutl[release], Etcd: etcd}
	s3, err := s3lab.Start(ctx, s3lab.Config{Rclone: built.Rclone, Dir: filepath.Join(t.TempDir(), "s3")})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	store := backupverify.Store{Env: s3.RemoteEnv(backupverify.Remote), Path: "bucket/etcd-prod"}

	identity, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	older, newer, revision := snapshots(ctx, t, etcd)
	put := func(key string, sealed []byte) {
		t.Helper()
		sum := sha256.Sum256(sealed)
		for k, data := range map[string][]byte{key: sealed, key + ".sha256": []byte(hex.EncodeToString(sum[:]) + "  " + filepath.Base(key) + "\n")} {
			if err := s3.Put(ctx, store.Path+"/"+k, data); err != nil {
				t.Fatal(err)
			}
		}
	}
	const newest = "etcd-prod-central-2/etcd-20261204T120000Z" + cloudconfig.SealedSuffix
	verify := func() (backupverify.Result, error) {
		return backupverify.Verify(ctx, tools, store, identity, t.TempDir())
	}

	if _, err := verify(); err == nil || !strings.Contains(err.Error(), "no snapshot ending .db.gz.age below bucket/etcd-prod/") {
		t.Errorf("empty store: %v, want no snapshot", err)
	}
	put("etcd-prod-central-0/etcd-20261204T110000Z"+cloudconfig.SealedSuffix, seal(t, older, identity.Recipient()))
	put(newest, seal(t, newer, identity.Recipient()))
	// Plain, from before encryption, and newer by name: not a candidate.
	if err := s3.Put(ctx, store.Path+"/etcd-prod-central-1/etcd-20261204T130000Z.db", newer); err != nil {
		t.Fatal(err)
	}
	r, err := verify()
	if err != nil {
		t.Fatal(err)
	}
	if want := (backupverify.Result{Key: newest, Revision: revision, Keys: 64}); r != want {
		t.Errorf("Verify = %+v, want %+v", r, want)
	}

	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		sealed []byte
		object func([]byte) []byte
		want   string
	}{
		{"corrupt in the store", seal(t, newer, identity.Recipient()), func(b []byte) []byte {
			b = bytes.Clone(b)
			b[len(b)/2] ^= 1
			return b
		}, "CORRUPT in the store"},
		{"another cluster's", seal(t, newer, other.Recipient()), nil, "decrypt with the backup identity"},
		{"no snapshot", seal(t, []byte("not a snapshot"), identity.Recipient()), nil, "etcdutl snapshot status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			put(newest, tc.sealed)
			if tc.object != nil {
				if err := s3.Put(ctx, store.Path+"/"+newest, tc.object(tc.sealed)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := verify()
			if want := "snapshot bucket/etcd-prod/" + newest + ": "; err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify = %v, want an error with %q and %q", err, want, tc.want)
			}
		})
	}
}

// snapshots are two snapshots of a real etcd, 32 and then 64 keys, and
// the revision of the second.
func snapshots(ctx context.Context, t *testing.T, etcd string) (older, newer []byte, revision int64) {
	t.Helper()
	dir := t.TempDir()
	block, err := localetcd.FreeBlock()
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + localetcd.CentralAddr(block, 0) + ":2379"
	p := localetcd.NewProc("src", dir, etcd, []string{"--listen-client-urls", url, "--advertise-client-urls", url,
		"--listen-peer-urls", "http://" + localetcd.CentralAddr(block, 0) + ":2380"}, nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Stop(10 * time.Second)
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	take := func() []byte {
		t.Helper()
		rc, err := c.Snapshot(ctx)
		if err != nil {
			t.Fatalf("snapshot: %v\n%s", err, p.LogTail(20))
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i := range 64 {
		resp, err := c.Put(ctx, fmt.Sprintf("/k/%02d", i), strings.Repeat("v", 100))
		if err != nil {
			t.Fatalf("put: %v\n%s", err, p.LogTail(20))
		}
		revision = resp.Header.Revision
		if i == 31 {
			older = take()
		}
	}
	return older, take(), revision
}

// seal is what a node's backup makes of a snapshot: gzip, then age to r.
func seal(t *testing.T, snapshot []byte, r age.Recipient) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := age.Encrypt(&b, r)
	if err != nil {
		t.Fatal(err)
	}
	z := gzip.NewWriter(w)
	if _, err := z.Write(snapshot); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
