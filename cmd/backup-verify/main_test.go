package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/isolatedetcd/cluster/internal/nodescript"
	"github.com/isolatedetcd/cluster/internal/s3lab"
)

// TestUsage: what the command cannot run with is refused before it builds
// or reaches anything, naming the flag, the value and what is allowed.
func TestUsage(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "identity.txt")
	if err := os.WriteFile(file, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	full := []string{"--bucket", "b", "--prefix", "etcd-prod", "--region", "us-east-1", "--identity", file}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"no bucket", full[2:], "", `--bucket "" --prefix "etcd-prod"`},
		{"an argument", slices.Concat(full, []string{"extra"}), "", "want all four set, and no arguments"},
		{"provider", slices.Concat(full, []string{"--provider", "GCS"}), "", `--provider "GCS": want AWS or DigitalOcean`},
		{"etcd line", slices.Concat(full, []string{"--etcd", "3.4"}), "", `--etcd "3.4": want one of [3.5 3.6 3.7]`},
		{"no identity file", slices.Concat(full[:6], []string{"--identity", file + ".missing"}), "", "--identity " + file + ".missing: open"},
		{"not an identity", slices.Concat(full[:6], []string{"--identity", "-"}), "age1notakey\n", "--identity -: "},
		{"two identities", slices.Concat(full[:6], []string{"--identity", "-"}), id.String() + "\n" + id.String() + "\n", "2 identities, want the cluster's one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, strings.NewReader(tc.stdin), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("run %q = %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
			}
		})
	}
}

// TestReachesTheStore: the flags an operator copies from the stack's
// outputs, and the credentials in the environment, reach the store; an
// empty one is not verified, and says so.
func TestReachesTheStore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcd, etcdutl and rclone")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	rclone, err := nodescript.Rclone(ctx, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	s3, err := s3lab.Start(ctx, s3lab.Config{Rclone: rclone, Dir: filepath.Join(t.TempDir(), "s3"), Buckets: []string{"spaces-bucket"}, AccessKey: "DO00VERIFY", SecretKey: "verify-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "DO00VERIFY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "verify-secret")
	var stdout, stderr bytes.Buffer
	code := run([]string{"--bucket", "spaces-bucket", "--prefix", "etcd-prod", "--provider", "DigitalOcean", "--region", "nyc3", "--endpoint", s3.Endpoint, "--identity", "-"},
		strings.NewReader(id.String()+"\n"), &stdout, &stderr)
	if want := "NOT VERIFIED: no snapshot ending .db.gz.age below spaces-bucket/etcd-prod/"; code != 1 || !strings.Contains(stderr.String(), want) {
		t.Errorf("run = %d, stderr:\n%s\nwant 1 and %q", code, stderr.String(), want)
	}
}
