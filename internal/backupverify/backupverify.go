// Package backupverify proves that the newest snapshot in a backup store
// restores: it fetches it, checks it against its sha256 sidecar, decrypts
// it with the cluster's identity, restores it with etcdutl into a scratch
// directory, and serves it from a throwaway etcd on loopback at the revision
// the snapshot records. It runs where the identity may be (the operator's
// machine, a CI job), never on a node (docs/backups.md).
package backupverify

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// Tools are the binaries a verification runs: the rclone and etcdutl the
// nodes' images carry, and etcd of the cluster's line.
type Tools struct{ Rclone, Etcdutl, Etcd string }

// Store is where the snapshots are.
type Store struct {
	// Env defines the rclone remote called Remote, as rclone reads remotes
	// from its environment; the nodes' uploader reads the same.
	Env []string
	// Path is bucket/prefix: each member's snapshots are below it.
	Path string
}

// Remote is the name of the rclone remote Store.Env defines.
const Remote = cloudconfig.RemoteBackup

// Result is a verified snapshot.
type Result struct {
	// Key is the snapshot's key below the store's path.
	Key string
	// Revision is the revision the snapshot records and the restored
	// etcd served at; Keys is how many keys it served.
	Revision, Keys int64
}

// Verify proves the newest sealed snapshot below st.Path restores, working
// in dir (left behind for evidence; the caller removes it).
func Verify(ctx context.Context, t Tools, st Store, id age.Identity, dir string) (Result, error) {
	key, err := newest(ctx, t, st)
	if err != nil {
		return Result{}, err
	}
	r := Result{Key: key}
	fail := func(err error) (Result, error) { return r, fmt.Errorf("snapshot %s/%s: %w", st.Path, key, err) }

	sealed, sidecar := filepath.Join(dir, "snapshot"+cloudconfig.SealedSuffix), filepath.Join(dir, "sha256")
	for _, f := range [][2]string{{key, sealed}, {key + ".sha256", sidecar}} {
		if _, err := rclone(ctx, t, st, "copyto", Remote+":"+st.Path+"/"+f[0], f[1]); err != nil {
			return fail(err)
		}
	}
	if err := checkSum(sealed, sidecar); err != nil {
		return fail(err)
	}
	plain := filepath.Join(dir, "snapshot.db")
	if err := open(sealed, plain, id); err != nil {
		return fail(err)
	}
	recorded, err := revision(ctx, t, plain)
	if err != nil {
		return fail(err)
	}
	data := filepath.Join(dir, "restored")
	if out, err := exec.CommandContext(ctx, t.Etcdutl, "snapshot", "restore", plain, "--data-dir", data).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("etcdutl snapshot restore: %w: %s", err, out))
	}
	r.Revision, r.Keys, err = serve(ctx, t, data, filepath.Join(dir, "etcd.log"))
	if err != nil {
		return fail(err)
	}
	if r.Revision != recorded {
		return fail(fmt.Errorf("the restored etcd serves revision %d, and the snapshot records %d", r.Revision, recorded))
	}
	return r, nil
}

// newest is the key of the newest sealed snapshot below st.Path, by the
// time in its name, as the nodes' own check picks it.
func newest(ctx context.Context, t Tools, st Store) (string, error) {
	none := fmt.Errorf("no snapshot ending %s below %s/", cloudconfig.SealedSuffix, st.Path)
	out, err := rclone(ctx, t, st, "lsjson", "-R", "--files-only", Remote+":"+st.Path+"/")
	if exit, ok := errors.AsType[*exec.ExitError](err); ok && exit.ExitCode() == rcloneDirNotFound {
		return "", none
	}
	if err != nil {
		return "", err
	}
	var objects []struct{ Path string }
	if err := json.Unmarshal(out, &objects); err != nil {
		return "", fmt.Errorf("listing %s: %w", st.Path, err)
	}
	var keys []string
	for _, o := range objects {
		if cloudconfig.Sealed(o.Path) {
			keys = append(keys, o.Path)
		}
	}
	if len(keys) == 0 {
		return "", none
	}
	return slices.MaxFunc(keys, func(a, b string) int { return strings.Compare(path.Base(a), path.Base(b)) }), nil
}

// rcloneDirNotFound is rclone's exit status for a path that holds nothing.
const rcloneDirNotFound = 3

// rclone runs rclone with the store's remote and nothing of the caller's
// rclone config.
func rclone(ctx context.Context, t Tools, st Store, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, t.Rclone, args...)
	cmd.Env = append(os.Environ(), st.Env...)
	cmd.Env = append(cmd.Env, "RCLONE_CONFIG="+os.DevNull)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("rclone %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// checkSum compares the file's sha256 with the one its sidecar records.
func checkSum(file, sidecar string) error {
	want, err := os.ReadFile(sidecar)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	fields := strings.Fields(string(want))
	if got := hex.EncodeToString(h.Sum(nil)); len(fields) == 0 || got != fields[0] {
		return fmt.Errorf("CORRUPT in the store: sha256 %s, its sidecar records %q", got, bytes.TrimSpace(want))
	}
	return nil
}

// open decrypts sealed with id and gunzips it into plain.
func open(sealed, plain string, id age.Identity) error {
	in, err := os.Open(sealed)
	if err != nil {
		return err
	}
	defer in.Close()
	r, err := age.Decrypt(in, id)
	if err != nil {
		return fmt.Errorf("decrypt with the backup identity: %w", err)
	}
	z, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("gunzip: %w", err)
	}
	out, err := os.OpenFile(plain, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, z); err != nil {
		out.Close()
		return fmt.Errorf("decrypt and gunzip: %w", err)
	}
	return out.Close()
}

// revision is the revision etcdutl reads in the snapshot file.
func revision(ctx context.Context, t Tools, snapshot string) (int64, error) {
	out, err := exec.CommandContext(ctx, t.Etcdutl, "snapshot", "status", snapshot, "--write-out", "json").Output()
	if err != nil {
		return 0, fmt.Errorf("etcdutl snapshot status: %w", err)
	}
	var s struct{ Revision int64 }
	if err := json.Unmarshal(out, &s); err != nil {
		return 0, fmt.Errorf("etcdutl snapshot status: %w: %s", err, out)
	}
	return s.Revision, nil
}

// serve starts etcd on loopback from the restored data directory, asks it
// for its revision and how many keys it holds, and stops it.
func serve(ctx context.Context, t Tools, data, logFile string) (rev, keys int64, err error) {
	client, peer, err := freePorts()
	if err != nil {
		return 0, 0, err
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(client)
	log, err := os.Create(logFile)
	if err != nil {
		return 0, 0, err
	}
	defer log.Close()
	cmd := exec.Command(t.Etcd, "--data-dir", data, "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", "http://127.0.0.1:"+strconv.Itoa(peer))
	// Nothing of the caller's ETCD_* settings.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	c, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	deadline := time.Now().Add(time.Minute)
	for {
		reqCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := c.Get(reqCtx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
		cancel()
		if err == nil {
			return resp.Header.Revision, resp.Count, nil
		}
		select {
		case werr := <-exited:
			exited <- werr
			return 0, 0, fmt.Errorf("the restored etcd exited (%v); its log is %s", werr, logFile)
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, 0, fmt.Errorf("the restored etcd did not answer within a minute: %w; its log is %s", errors.Join(err, ctx.Err()), logFile)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freePorts are two loopback ports nothing listens on now.
func freePorts() (int, int, error) {
	var ports []int
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports[0], ports[1], nil
}
