package nodescript_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodescript"
)

// keyspaceBytes is the keyspace BenchmarkSeal snapshots: 100 MB of values.
const keyspaceBytes = 100 << 20

// object is one value of the keyspace: a JSON object as an orchestrator
// keeps them (a pod: names, labels, addresses, times, ids), with a quarter
// of it random base64, as certificates, tokens and checksums are. Such a
// mix, not zeros or pure noise, is what decides the ratio.
func object(i int) string {
	id := make([]byte, 16)
	blob := make([]byte, 384)
	_, _ = rand.Read(id)
	_, _ = rand.Read(blob)
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-%d-%s","namespace":"team-%d","uid":"%s",`+
		`"resourceVersion":"%d","creationTimestamp":"2026-11-%02dT%02d:%02d:%02dZ","labels":{"app":"web-%d","tier":"frontend","release":"stable"},`+
		`"annotations":{"checksum/config":"%s"}},"spec":{"nodeName":"worker-%d","containers":[{"name":"web","image":"registry.example.com/web:1.%d.0",`+
		`"ports":[{"containerPort":8080,"protocol":"TCP"}],"resources":{"requests":{"cpu":"250m","memory":"256Mi"},"limits":{"cpu":"1","memory":"512Mi"}},`+
		`"env":[{"name":"LOG_LEVEL","value":"info"},{"name":"REGION","value":"us-east-2"}]}],"restartPolicy":"Always"},`+
		`"status":{"phase":"Running","podIP":"10.%d.%d.%d","hostIP":"10.21.%d.%d","conditions":[{"type":"Ready","status":"True"}]}}`,
		i, hex.EncodeToString(id[:4]), i%40, hex.EncodeToString(id), 100000+i, 1+i%28, i%24, i%60, i%60, i%300,
		base64.StdEncoding.EncodeToString(blob), i%200, i%30, i%250, i/250%250, i%250, i%64, i%250)
}

// BenchmarkSeal measures what a backup costs and saves on a member holding
// a 100 MB keyspace, with the binaries a node runs (the host's gzip, the
// pinned age, etcdutl): the snapshot raw, gzipped, age-encrypted only, and
// sealed as the backup unit does (gzip | age); opened as the restore unit
// does (age -d | gzip -d); and etcdutl's restore of the opened snapshot.
// Reported per run: bytes out, out/in, and the CPU seconds of the
// processes (user + system).
//
//	go test ./internal/nodescript -run '^$' -bench BenchmarkSeal -benchtime 3x -count 3 -timeout 30m
func BenchmarkSeal(b *testing.B) {
	if err := nodescript.Available(); err != nil {
		b.Skip(err)
	}
	ctx := context.Background()
	release := cloudconfig.Etcd36.Release()
	tools, err := nodescript.Build(ctx, []string{release}, func(s string) { b.Log(s) })
	if err != nil {
		b.Fatal(err)
	}
	etcd, err := localetcd.Binary(ctx, release, func(s string) { b.Log(s) })
	if err != nil {
		b.Fatal(err)
	}
	block, err := localetcd.FreeBlock()
	if err != nil {
		b.Fatal(err)
	}
	addr, dir := localetcd.CentralAddr(block, 0), b.TempDir()
	startEtcd(b, etcd, "bench", dir, addr, nil, nil)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + addr + ":2379"}, DialTimeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	keys, start := 0, time.Now()
	for written := 0; written < keyspaceBytes; {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failed error
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 64 {
					i := keys + w*64 + j
					v := object(i)
					if _, err := cli.Put(ctx, fmt.Sprintf("/registry/pods/team-%d/web-%d", i%40, i), v); err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
						return
					}
					mu.Lock()
					written += len(v)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if failed != nil {
			b.Fatal(failed)
		}
		keys += 16 * 64
	}
	snap := filepath.Join(dir, "snapshot.db")
	run(b, tools.Etcdctl[release], "--endpoints=http://"+addr+":2379", "snapshot", "save", snap)
	fi, err := os.Stat(snap)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d keys written in %s; snapshot %d bytes", keys, time.Since(start).Round(time.Second), fi.Size())

	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	idFile := filepath.Join(dir, "identity")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	r := id.Recipient().String()
	out := filepath.Join(dir, "out")
	opened := filepath.Join(dir, "opened.db")
	sealed := filepath.Join(dir, "sealed")
	for _, tc := range []struct {
		name, script, in, out string
	}{
		{"gzip", `gzip -c "$1" >"$2"`, snap, out},
		{"age", `"$4" --encrypt --recipient="$5" --output="$2" "$1"`, snap, out},
		{"gzip+age", `gzip -c "$1" | "$4" --encrypt --recipient="$5" --output="$2"`, snap, sealed},
		{"open", `"$4" --decrypt --identity="$6" "$1" | gzip -dc >"$2"`, sealed, opened},
		{"etcdutl-restore", `rm -rf "$2" && "$3" snapshot restore "$1" --data-dir="$2" >/dev/null 2>&1`, opened, filepath.Join(dir, "restored")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+tc.script, "-", tc.in, tc.out, tools.Etcdutl[release], tools.Age, r, idFile)
				if o, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%s: %v\n%s", tc.name, err, o)
				}
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			in, _ := os.Stat(tc.in)
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(in.Size())/1e6, "MB-in")
			if o, err := os.Stat(tc.out); err == nil && !o.IsDir() {
				b.ReportMetric(float64(o.Size())/1e6, "MB-out")
				b.ReportMetric(float64(o.Size())/float64(in.Size()), "out/in")
			}
		})
	}
}

// run runs bin with args, failing b with its output.
func run(b *testing.B, bin string, args ...string) {
	b.Helper()
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		b.Fatalf("%s %v: %v\n%s", bin, args, err, out)
	}
}
