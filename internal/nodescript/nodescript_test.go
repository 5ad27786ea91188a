package nodescript_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/netlab"
	"github.com/isolatedetcd/cluster/internal/nodescript"
	"github.com/isolatedetcd/cluster/internal/s3lab"
)

// backupScript is the shape of cloudconfig's etcd-backup; %[3]s are the
// TLS volume, %[4]s the endpoint's scheme, %[5]s the TLS flags.
const backupScript = `#!/bin/bash
set -euo pipefail
dir=/var/lib/etcd-backup
mkdir -p "$dir"
name="etcd-$(date -u +%%Y%%m%%dT%%H%%M%%SZ).db"
trap 'rm -rf "$dir/$name" "$dir/restore"' EXIT
/usr/bin/docker run --rm --network=host%[3]s --volume=$dir:$dir --entrypoint=/usr/local/bin/etcdctl %[1]s --endpoints=%[4]s://127.0.0.1:2379%[5]s snapshot save "$dir/$name"
/usr/bin/docker run --rm --volume=$dir:$dir --entrypoint=/usr/local/bin/etcdutl %[1]s snapshot restore "$dir/$name" --data-dir="$dir/restore"
/usr/bin/docker run --rm --network=host --env-file=/etc/etcd-backup.env --volume=$dir:$dir:ro %[2]s copyto --s3-no-check-bucket "$dir/$name" "backup:bkt/etcd/n0/$name"
`

// restoreScript is the shape of cloudconfig's etcd-restore, plaintext;
// %[3]s is the object to restore from.
const restoreScript = `#!/bin/bash
set -euo pipefail
data=/var/lib/etcd
if ls -A "$data" | grep -qv '^lost+found$'; then
  echo "$data holds data: not restoring over it"
  exit 0
fi
work=/var/lib/etcd-restore
rm -rf "$work" && mkdir -p "$work"
/usr/bin/docker run --rm --network=host --env-file=/etc/etcd-backup.env --volume=$work:$work %[2]s copyto "backup:%[3]s" "$work/snapshot.db"
/usr/bin/docker run --rm --volume=$work:$work --entrypoint=/usr/local/bin/etcdutl %[1]s snapshot restore "$work/snapshot.db" --name=n1 --initial-cluster=n1=http://%[4]s:2380 --initial-cluster-token=t-restored --initial-advertise-peer-urls=http://%[4]s:2380 --data-dir="$work/data"
mv "$work/data/member" "$data/member"
chown -R etcd:etcd "$data/member"
rm -rf "$work"
`

// hostPaths must look the same before and after: nothing a script does
// reaches the host's own.
var hostPaths = []string{"/etc/passwd", "/etc/group", "/etc/etcd-backup.env", "/opt/bin", "/var/lib/etcd", "/var/lib/etcd-backup", "/var/lib/etcd-restore", "/usr/bin/docker", "/usr/local/bin/etcdctl"}

func snapshotHost(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, p := range hostPaths {
		b, err := os.ReadFile(p)
		switch {
		case os.IsNotExist(err):
			out[p] = "absent"
		case err != nil:
			fi, _ := os.Stat(p)
			out[p] = fmt.Sprint(fi.Mode(), fi.ModTime())
		default:
			out[p] = fmt.Sprintf("%x", sha256.Sum256(b))
		}
	}
	return out
}

func writeFile(t *testing.T, root, path, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// mintTLS writes a CA and a member pair naming 127.0.0.1 and addr into
// the node's TLS directory, as its write_files would, and returns the
// client configuration that trusts and presents them.
func mintTLS(t *testing.T, root, addr string) *tls.Config {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, memberKey := key(), key()
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	member := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "member"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(addr)}}
	memberDER, err := x509.CreateCertificate(rand.Reader, member, ca, memberKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(memberKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: memberDER})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	writeFile(t, root, cloudconfig.TLSDir+"/ca.crt", string(caPEM), 0o644)
	writeFile(t, root, cloudconfig.TLSDir+"/member.crt", string(certPEM), 0o644)
	writeFile(t, root, cloudconfig.TLSDir+"/member.key", string(keyPEM), 0o600)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}
}

// startEtcd starts a single member on addr keeping its data in dir/data;
// with tc, its client port is TLS with the node's pair and wants a client's.
func startEtcd(t testing.TB, bin, name, dir, addr string, lab *netlab.Lab, tc *tls.Config) (*localetcd.Proc, localetcd.Endpoint) {
	t.Helper()
	peer := "http://" + net.JoinHostPort(addr, "2380")
	client := "http://" + net.JoinHostPort(addr, "2379")
	var tlsArgs []string
	if tc != nil {
		client = "https://" + net.JoinHostPort(addr, "2379")
		tlsDir := filepath.Join(dir, "root", cloudconfig.TLSDir)
		tlsArgs = []string{"--client-cert-auth", "--trusted-ca-file=" + tlsDir + "/ca.crt", "--cert-file=" + tlsDir + "/member.crt", "--key-file=" + tlsDir + "/member.key"}
	}
	args := append([]string{"--name=" + name, "--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer, "--initial-cluster=" + name + "=" + peer}, tlsArgs...)
	p := (&localetcd.Nodes{Lab: lab}).NewProc(name, dir, bin, args, nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(5 * time.Second) })
	ep := localetcd.Plain(net.JoinHostPort(addr, "2379"))
	if lab != nil || tc != nil {
		link := &localetcd.Link{TLS: tc}
		if lab != nil {
			link.Dial = lab.DialContext
		}
		ep = localetcd.Endpoint{Addr: ep.Addr, Link: link}
	}
	if err := localetcd.Retry(context.Background(), 30*time.Second, func() error { return ep.Healthy(context.Background()) }); err != nil {
		t.Fatalf("etcd %s: %v\n%s", name, err, p.LogTail(20))
	}
	return p, ep
}

// TestBackupRestore: the scripts' docker runs, for real, snapshot a live
// member, prove the snapshot restores, upload it to S3, and a blank member
// restores from it, owned by etcd, and serves the key written before.
func TestBackupRestore(t *testing.T) {
	if err := nodescript.Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	logf := func(s string) { t.Log(s) }
	for _, tc := range []struct {
		name    string
		version cloudconfig.EtcdVersion
		lab     bool
		tls     bool
	}{
		{name: "etcd3.6", version: cloudconfig.Etcd36},
		{name: "etcd3.5", version: cloudconfig.Etcd35},
		{name: "etcd3.6-tls", version: cloudconfig.Etcd36, tls: true},
		{name: "etcd3.6-lab-tls", version: cloudconfig.Etcd36, lab: true, tls: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := tc.version.Release()
			tools, err := nodescript.Build(ctx, []string{release}, logf)
			if err != nil {
				t.Fatal(err)
			}
			etcd, err := localetcd.Binary(ctx, release, logf)
			if err != nil {
				t.Fatal(err)
			}
			before := snapshotHost(t)
			var lab *netlab.Lab
			addrs := []string{"", ""}
			if tc.lab {
				if err := netlab.Available(); err != nil {
					t.Skip(err)
				}
				addrs = []string{"10.21.0.10", "10.21.0.11"}
				if lab, err = netlab.New(addrs, nil, t.TempDir()); err != nil {
					t.Fatal(err)
				}
				defer lab.Close()
			} else {
				block, err := localetcd.FreeBlock()
				if err != nil {
					t.Fatal(err)
				}
				addrs = []string{localetcd.CentralAddr(block, 0), localetcd.CentralAddr(block, 1)}
			}
			s3, err := s3lab.Start(ctx, s3lab.Config{Rclone: tools.Rclone, Dir: filepath.Join(t.TempDir(), "s3"), Buckets: []string{"bkt"}, Lab: lab})
			if err != nil {
				t.Fatal(err)
			}
			defer s3.Close()
			env := strings.Join(s3.RemoteEnv("backup"), "\n") + "\n"
			image := tc.version.Image()

			// The member backed up.
			n0 := nodescript.Node{Dir: t.TempDir(), Addr: addrs[0], Lab: lab}
			var clientTLS *tls.Config
			volume, scheme, flags := "", "http", ""
			if tc.tls {
				clientTLS = mintTLS(t, n0.Root(), n0.Addr)
				d := cloudconfig.TLSDir
				volume, scheme = " --volume="+d+":"+d+":ro", "https"
				flags = " --cacert=" + d + "/ca.crt --cert=" + d + "/member.crt --key=" + d + "/member.key"
			}
			_, ep0 := startEtcd(t, etcd, "n0", n0.Dir, n0.Addr, lab, clientTLS)
			if err := ep0.Put(ctx, "/backed/up", "yes"); err != nil {
				t.Fatal(err)
			}
			writeFile(t, n0.Root(), "/opt/bin/etcd-backup", fmt.Sprintf(backupScript, image, cloudconfig.RcloneImage, volume, scheme, flags), 0o755)
			writeFile(t, n0.Root(), "/etc/etcd-backup.env", env, 0o600)
			start := time.Now()
			out, err := nodescript.Run(ctx, tools, n0, "/opt/bin/etcd-backup")
			if err != nil {
				t.Fatalf("etcd-backup: %v\n%s", err, out)
			}
			t.Logf("etcd-backup in %s:\n%s", time.Since(start).Round(time.Millisecond), out)
			objs, err := s3.List(ctx, "bkt")
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 1 || !strings.HasPrefix(objs[0].Key, "bkt/etcd/n0/etcd-") || objs[0].Size < 4096 {
				t.Fatalf("objects %+v, want one snapshot under bkt/etcd/n0/", objs)
			}
			// The trap removed the local snapshot; the directory is the node's.
			if left, _ := os.ReadDir(filepath.Join(n0.Root(), "var/lib/etcd-backup")); len(left) != 0 {
				t.Errorf("etcd-backup left %v", left)
			}

			// A blank member restored from it.
			n1 := nodescript.Node{Dir: t.TempDir(), Addr: addrs[1], Lab: lab}
			writeFile(t, n1.Root(), "/opt/bin/etcd-restore", fmt.Sprintf(restoreScript, image, cloudconfig.RcloneImage, objs[0].Key, n1.Addr), 0o755)
			writeFile(t, n1.Root(), "/etc/etcd-backup.env", env, 0o600)
			if out, err = nodescript.Run(ctx, tools, n1, "/opt/bin/etcd-restore"); err != nil {
				t.Fatalf("etcd-restore: %v\n%s", err, out)
			}
			fi, err := os.Stat(filepath.Join(n1.DataDir(), "member"))
			if err != nil {
				t.Fatalf("no member after etcd-restore: %v\n%s", err, out)
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != nodescript.EtcdUID || st.Gid != nodescript.EtcdGID {
				t.Errorf("member owned by %d:%d, want etcd's %d:%d", st.Uid, st.Gid, nodescript.EtcdUID, nodescript.EtcdGID)
			}
			_, ep1 := startEtcd(t, etcd, "n1", n1.Dir, n1.Addr, lab, nil)
			if v, err := ep1.Get(ctx, "/backed/up", false); err != nil || v != "yes" {
				t.Errorf("restored member: /backed/up = %q, %v", v, err)
			}
			// A second run leaves a member with data alone.
			if out, err = nodescript.Run(ctx, tools, n1, "/opt/bin/etcd-restore"); err != nil || !strings.Contains(out, "holds data: not restoring") {
				t.Errorf("etcd-restore over data: %v\n%s", err, out)
			}
			if after := snapshotHost(t); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("host paths changed:\nbefore %v\nafter  %v", before, after)
			}
			if m, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(m), "nodescript") {
				t.Errorf("the host's mounts hold the script's:\n%s", m)
			}
		})
	}
}

// TestShimRefuses: the docker shim runs only what it interprets, and says
// what it refused.
func TestShimRefuses(t *testing.T) {
	if err := nodescript.Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	release := cloudconfig.Etcd36.Release()
	tools, err := nodescript.Build(ctx, []string{release}, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	image := cloudconfig.Etcd36.Image()
	for _, tc := range []struct {
		name, run, want string
	}{
		{"not run", "docker ps", "only docker run is interpreted"},
		{"unknown flag", "docker run --rm --privileged --entrypoint=/usr/local/bin/etcdctl " + image + " version", "flag --privileged is not one"},
		{"flag without equals", "docker run --rm --volume /tmp:/tmp " + cloudconfig.RcloneImage + " version", "flag --volume is not one"},
		{"another user", "docker run --rm --user=1009 " + cloudconfig.RcloneImage + " version", "flag --user=1009 is not one"},
		{"unknown image", "docker run --rm --network=host alpine:3.20 true", "image alpine:3.20"},
		{"unpinned etcd", "docker run --rm --entrypoint=/usr/local/bin/etcdctl " + cloudconfig.EtcdImageRepo + ":v3.4.0 version", "image " + cloudconfig.EtcdImageRepo + ":v3.4.0"},
		{"etcd itself", "docker run --rm --entrypoint=/usr/local/bin/etcd " + image, "entrypoint /usr/local/bin/etcd:"},
		{"etcd image no entrypoint", "docker run --rm " + image + " version", "the image default"},
		{"rclone entrypoint", "docker run --rm --entrypoint=/bin/sh " + cloudconfig.RcloneImage, "entrypoint /bin/sh"},
		{"volume elsewhere", "docker run --rm --volume=/var/lib/x:/x " + cloudconfig.RcloneImage + " version", "SRC = DST"},
		{"volume rw flag", "docker run --rm --volume=/var/lib:/var/lib:rw " + cloudconfig.RcloneImage + " version", "SRC:DST:ro"},
		{"path outside volumes", "docker run --rm --entrypoint=/usr/local/bin/etcdutl " + image + " snapshot status /var/lib/etcd/x.db", "outside every --volume"},
		{"endpoint not a URL", "docker run --rm --network=host --entrypoint=/usr/local/bin/etcdctl " + image + " --endpoints=10.0.0.1:2379 get x", "only endpoints http(s)://host:port"},
		{"env file missing", "docker run --rm --env-file=/etc/none.env " + cloudconfig.RcloneImage + " version", "no such file"},
		{"env file bad line", "docker run --rm --env-file=/etc/bad.env " + cloudconfig.RcloneImage + " version", "not NAME=value"},
		// rclone runs with no config but the env-file's: the host's never.
		{"no host config", "docker run --rm " + cloudconfig.RcloneImage + " config file", "no-rclone-config"},
		// Without --network=host the container has no network.
		{"no network", "docker run --rm --entrypoint=/usr/local/bin/etcdctl " + image + " --endpoints=http://127.0.0.1:2379 --dial-timeout=1s --command-timeout=2s get x", "network is unreachable"},
		// The Go image only installs the pinned age, into a volume.
		{"go image runs go build", "docker run --rm --volume=/opt/bin:/opt/bin --env=GOBIN=/opt/bin " + cloudconfig.Age.Image + " go build ./...", "only go install " + cloudconfig.Age.Package + "@" + cloudconfig.Age.Version},
		{"go install of another age", "docker run --rm --volume=/opt/bin:/opt/bin --env=GOBIN=/opt/bin " + cloudconfig.Age.Image + " go install " + cloudconfig.Age.Package + "@v1.2.0", "only go install"},
		{"go install into the container", "docker run --rm --volume=/opt/bin:/opt/bin " + cloudconfig.Age.Image + " go install " + cloudconfig.Age.Package + "@" + cloudconfig.Age.Version, "is not a --volume"},
		{"env without a value", "docker run --rm --env=GOBIN " + cloudconfig.RcloneImage + " version", "only --env=NAME=value"},
		// A read-only volume is read-only.
		{"read-only volume", "mkdir -p /var/lib/ro && /usr/bin/docker run --rm --volume=/var/lib/ro:/var/lib/ro:ro " + cloudconfig.RcloneImage + " touch /var/lib/ro/x", "read-only file system"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := nodescript.Node{Dir: t.TempDir(), Addr: "127.0.0.1"}
			writeFile(t, n.Root(), "/opt/bin/try", "#!/bin/bash\nset -euo pipefail\n/usr/bin/"+tc.run+"\n", 0o755)
			writeFile(t, n.Root(), "/etc/bad.env", "RCLONE_X=1\nnot a setting\n", 0o600)
			out, err := nodescript.Run(ctx, tools, n, "/opt/bin/try")
			t.Logf("%s: %v\n%s", tc.run, err, out)
			if !strings.Contains(out, tc.want) {
				t.Errorf("%s: %v\n%s\nwant output with %q", tc.run, err, out, tc.want)
			}
			if tc.name != "no host config" && err == nil {
				t.Errorf("%s succeeded:\n%s", tc.run, out)
			}
		})
	}
}

// TestLabNames: in a lab with names the script resolves them (the lab's
// hosts file survives the overlay of /etc), reads the node's files at
// their paths, is root, and chown finds Flatcar's etcd user.
func TestLabNames(t *testing.T) {
	if err := nodescript.Available(); err != nil {
		t.Skip(err)
	}
	if err := netlab.Available(); err != nil {
		t.Skip(err)
	}
	lab, err := netlab.New([]string{"10.21.0.10"}, map[string]string{"etcd-0.example.com": "10.21.0.10"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	n := nodescript.Node{Dir: t.TempDir(), Addr: "10.21.0.10", Lab: lab}
	writeFile(t, n.Root(), "/etc/node-file", "mine\n", 0o644)
	writeFile(t, n.Root(), "/opt/bin/look", `#!/bin/bash
set -euo pipefail
getent hosts etcd-0.example.com
cat /etc/node-file
id -u
touch /var/lib/etcd/probe && chown etcd:etcd /var/lib/etcd/probe
ip -o addr show lo | grep -c 10.21.0.10
`, 0o755)
	out, err := nodescript.Run(context.Background(), nodescript.Tools{}, n, "/opt/bin/look")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if want := "10.21.0.10      etcd-0.example.com\nmine\n0\n1\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	fi, err := os.Stat(filepath.Join(n.DataDir(), "probe"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != nodescript.EtcdUID || st.Gid != nodescript.EtcdGID {
		t.Errorf("probe owned by %d:%d", st.Uid, st.Gid)
	}
}
