package components_test

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/coreos-cloudinit/config"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
)

// files are the write_files of a cloud-config, by path.
func files(t *testing.T, userData string) map[string]config.File {
	t.Helper()
	cc, err := config.NewCloudConfig(userData)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]config.File{}
	for _, f := range cc.WriteFiles {
		out[f.Path] = f
	}
	return out
}

func parseCert(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		t.Fatalf("no PEM certificate in %q", p)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func publicKeyOf(t *testing.T, keyPEM string) crypto.PublicKey {
	t.Helper()
	b, _ := pem.Decode([]byte(keyPEM))
	if b == nil {
		t.Fatalf("no PEM key")
	}
	k, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

// verify checks that cert chains to ca for usage, and, when host is set,
// names host as a client dialling it would check.
func verify(cert *x509.Certificate, ca *x509.Certificate, host string, usage x509.ExtKeyUsage) error {
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

// TestTLSPairsPerNode: each central node carries the CA certificate and its
// own pair, which names every host it is dialled at and serves and dials
// peers; every worker carries the workers' client pair; no node carries the
// CA's key or another node's.
func TestTLSPairsPerNode(t *testing.T) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		t.Run(cloud, func(t *testing.T) {
			m, out := mustProvision(t, validArgs(cloud))
			if out.values["tls"] != components.TLSMutual {
				t.Fatalf("tls = %v, want %s", out.values["tls"], components.TLSMutual)
			}
			ca := parseCert(t, out.values["etcdCaCert"].(string))
			if !ca.IsCA {
				t.Fatal("etcdCaCert is not a CA certificate")
			}
			caKey := m.OfType("tls:index/selfSignedCert:SelfSignedCert")[0]
			caKeyPEM := str(caKey.Inputs, "privateKeyPem")
			endpoints := out.values["etcdClientEndpoints"].([]string)
			texts := append(out.values["centralCloudConfig"].([]string), out.values["workerCloudConfig"].(string))
			for i, text := range texts {
				if strings.Contains(text, strings.TrimSpace(caKeyPEM)) || caKeyPEM == "" {
					t.Fatalf("user data %d carries the CA key (or the CA key is unknown)", i)
				}
				if n := strings.Count(text, "PRIVATE KEY-----\n") / 2; n != 1 {
					t.Errorf("user data %d carries %d private keys, want its own only", i, n)
				}
			}
			for i, text := range texts[:len(endpoints)] {
				f := files(t, text)
				cert := parseCert(t, f["/etc/ssl/etcd/member.crt"].Content)
				if !cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(publicKeyOf(t, f["/etc/ssl/etcd/member.key"].Content)) {
					t.Errorf("central %d: member key does not match its certificate", i)
				}
				if key := f["/etc/ssl/etcd/member.key"]; key.RawFilePermissions != "0600" || key.Owner != "etcd:etcd" {
					t.Errorf("central %d: member key %s owned %s, want 0600 etcd:etcd", i, key.RawFilePermissions, key.Owner)
				}
				u, _ := url.Parse(endpoints[i])
				for _, host := range []string{u.Hostname(), "127.0.0.1", "localhost"} {
					for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
						if err := verify(cert, ca, host, usage); err != nil {
							t.Errorf("central %d as %s (usage %v): %v", i, host, usage, err)
						}
					}
				}
				if u.Scheme != "https" {
					t.Errorf("endpoint %s is not https", endpoints[i])
				}
			}
			w := files(t, texts[len(texts)-1])
			worker := parseCert(t, w["/etc/ssl/etcd/client.crt"].Content)
			if err := verify(worker, ca, "", x509.ExtKeyUsageClientAuth); err != nil {
				t.Errorf("worker certificate as a client: %v", err)
			}
			if worker.Subject.CommonName != "" {
				t.Errorf("worker certificate has common name %q: etcd grpc-proxy refuses it", worker.Subject.CommonName)
			}
			if err := verify(worker, ca, "", x509.ExtKeyUsageServerAuth); err == nil {
				t.Error("worker certificate can serve: a worker could pose as a member")
			}
			if _, ok := w["/etc/ssl/etcd/member.key"]; ok {
				t.Error("a worker carries a member key")
			}
			operator := parseCert(t, out.values["etcdClientCert"].(string))
			if err := verify(operator, ca, "", x509.ExtKeyUsageClientAuth); err != nil {
				t.Errorf("operator certificate: %v", err)
			}
			for key, secret := range map[string]bool{"etcdClientKey": true, "centralCloudConfig": true, "workerCloudConfig": true, "etcdCaCert": false, "etcdClientCert": false} {
				if out.secrets[key] != secret {
					t.Errorf("%s secret = %v, want %v", key, out.secrets[key], secret)
				}
			}
		})
	}
}

// TestTLSSettingsRefused: what cannot speak TLS, plaintext nobody
// acknowledged, and lifetimes out of bounds fail before anything exists.
func TestTLSSettingsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cloud  string
		change func(*components.ClusterArgs)
		want   []string
	}{
		{"plaintext outside a dev stack", "aws", func(a *components.ClusterArgs) { a.TLS = ptr(false) },
			[]string{"tls: false turns it off", "refused outside a dev stack", "tlsOffAcknowledged: true"}},
		{"a pre-TLS stack that did not choose", "aws", func(a *components.ClusterArgs) {
			a.DiscoveryURL, a.SkipDiscoveryCheck = discoveryURL, true
		}, []string{"tls is off because discoveryUrl is set", "tlsOffAcknowledged: true"}},
		{"gateway workers with TLS", "aws", func(a *components.ClusterArgs) { a.WorkerProxy = "gateway" },
			[]string{`workerProxy: "gateway" cannot present the workers' client certificate`, "grpc-proxy"}},
		{"grpc-proxy without TLS", "aws", func(a *components.ClusterArgs) {
			a.TLS, a.PlaintextAcknowledged, a.WorkerProxy = ptr(false), true, "grpc-proxy"
		}, []string{`workerProxy: "grpc-proxy" authenticates to the members with a certificate`}},
		{"coreos-etcd2 with TLS", "aws", func(a *components.ClusterArgs) {
			a.TLS, a.Flavor, a.Image, a.DiscoveryURL, a.SkipDiscoveryCheck = ptr(true), "coreos-etcd2", pulumiString("ami-0123456789abcdef0"), discoveryURL, true
		}, []string{"tls: true is not available with flavor coreos-etcd2"}},
		{"DigitalOcean without names", "digitalocean", func(a *components.ClusterArgs) {
			a.DNSZone, a.DiscoveryURL, a.SkipDiscoveryCheck, a.TLS = "", discoveryURL, true, ptr(true)
		}, []string{"tls needs bootstrap static", "dnsZone"}},
		{"TLS with discovery on AWS", "aws", func(a *components.ClusterArgs) {
			a.DiscoveryURL, a.SkipDiscoveryCheck, a.TLS = discoveryURL, true, ptr(true)
		}, []string{"tls needs bootstrap static"}},
		{"leaf lifetime too short", "aws", func(a *components.ClusterArgs) { a.CertDays = 3 }, []string{"tlsCertDays: 3", "7 to 825"}},
		{"leaf lifetime too long", "aws", func(a *components.ClusterArgs) { a.CertDays = 1000 }, []string{"tlsCertDays: 1000"}},
		{"CA outlived by renewals", "aws", func(a *components.ClusterArgs) { a.CADays = 400 }, []string{"tlsCaDays: 400", "730"}},
		{"a rotation stage that is not one", "aws", func(a *components.ClusterArgs) { a.CARotation = "rotate" }, []string{`tlsCaRotation: "rotate" is not a stage`, "trust-next"}},
		{"a CA generation below the first", "aws", func(a *components.ClusterArgs) { a.CAGeneration = -1 }, []string{"tlsCaGeneration: -1"}},
		{"a rotation with TLS off", "aws", func(a *components.ClusterArgs) {
			a.TLS, a.PlaintextAcknowledged, a.WorkerProxy, a.CARotation = ptr(false), true, "gateway", "trust-next"
		}, []string{`tlsCaRotation: "trust-next" rotates the CA of a cluster with tls on`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs(tc.cloud)
			tc.change(&args)
			refused(t, args, tc.want...)
		})
	}
}

// TestTLSOffAcknowledged: plaintext, acknowledged, registers no PKI (the
// backup key, not a certificate's, aside) and says so in its outputs.
func TestTLSOffAcknowledged(t *testing.T) {
	args := validArgs("aws")
	args.TLS, args.PlaintextAcknowledged = ptr(false), true
	m, out := mustProvision(t, args)
	if out.values["tls"] != components.TLSOff || out.values["workerProxy"] != "gateway" {
		t.Errorf("tls = %v, workerProxy = %v; want off and gateway", out.values["tls"], out.values["workerProxy"])
	}
	for _, r := range m.Resources() {
		if strings.HasPrefix(r.Type, "tls:") && r.Name != "etcd-dev-backup-key" {
			t.Errorf("%s %s registered with TLS off", r.Type, r.Name)
		}
	}
	if strings.Contains(out.values["workerCloudConfig"].(string), "PRIVATE KEY") {
		t.Error("worker user data carries a key with TLS off")
	}
}

func pulumiString(s string) pulumi.StringInput { return pulumi.String(s) }

// TestCARotationStages: trust-next adds a CA every node trusts, sign-next
// has it sign, and the next generation alone is left when the stage is
// cleared.
func TestCARotationStages(t *testing.T) {
	issuer := func(out outputs) string {
		f := files(t, out.values["centralCloudConfig"].([]string)[0])
		return parseCert(t, f["/etc/ssl/etcd/member.crt"].Content).Issuer.CommonName
	}
	trusted := func(out outputs) int { return strings.Count(out.values["etcdCaCert"].(string), "BEGIN CERTIFICATE") }
	for _, tc := range []struct {
		gen       int
		stage     string
		cas       int
		wantIssue string
	}{
		{0, "", 1, "etcd-dev etcd CA"},
		{0, components.CATrustNext, 2, "etcd-dev etcd CA"},
		{0, components.CASignNext, 2, "etcd-dev-gen1 etcd CA"},
		{1, "", 1, "etcd-dev-gen1 etcd CA"},
	} {
		args := validArgs("aws")
		args.CAGeneration, args.CARotation = tc.gen, tc.stage
		m, out := mustProvision(t, args)
		if n := len(m.OfType("tls:index/selfSignedCert:SelfSignedCert")); n != tc.cas || trusted(out) != tc.cas {
			t.Errorf("generation %d %q: %d CAs, %d trusted, want %d", tc.gen, tc.stage, n, trusted(out), tc.cas)
		}
		if got := issuer(out); got != tc.wantIssue {
			t.Errorf("generation %d %q: members' certificates issued by %q, want %q", tc.gen, tc.stage, got, tc.wantIssue)
		}
	}
}
