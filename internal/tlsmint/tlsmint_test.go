package tlsmint

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

func mint(t *testing.T, typ string, in map[string]any, n uint32) resource.PropertyMap {
	t.Helper()
	out, err := Create(typ, resource.NewPropertyMapFromMap(in), n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func cert(t *testing.T, out resource.PropertyMap) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(str(out, "certPem")))
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMintFromInputs: what the program asks for is what it gets; the same
// seed gives the same key; a use tlsmint does not know fails.
func TestMintFromInputs(t *testing.T) {
	caKey := mint(t, PrivateKey, map[string]any{"algorithm": "ECDSA", "ecdsaCurve": "P256"}, 1)
	if again := mint(t, PrivateKey, map[string]any{"algorithm": "ECDSA", "ecdsaCurve": "P256"}, 1); str(again, "privateKeyPem") != str(caKey, "privateKeyPem") {
		t.Error("the same seed minted two keys")
	}
	if !caKey["privateKeyPem"].IsSecret() {
		t.Error("privateKeyPem is not a secret")
	}
	ca := mint(t, SelfSignedCert, map[string]any{"privateKeyPem": str(caKey, "privateKeyPem"), "isCaCertificate": true,
		"allowedUses": []any{"certSigning"}, "validityPeriodHours": 24 * 3650, "setSubjectKeyId": true, "subject": map[string]any{"commonName": "ca"}}, 0)
	leafKey := mint(t, PrivateKey, map[string]any{"algorithm": "ECDSA", "ecdsaCurve": "P256"}, 2)
	csr := mint(t, CertRequest, map[string]any{"privateKeyPem": str(leafKey, "privateKeyPem"),
		"ipAddresses": []any{"10.21.0.10"}, "dnsNames": []any{"localhost"}}, 0)
	leaf := mint(t, LocallySignedCert, map[string]any{"certRequestPem": str(csr, "certRequestPem"), "caPrivateKeyPem": str(caKey, "privateKeyPem"),
		"caCertPem": str(ca, "certPem"), "allowedUses": []any{"serverAuth"}, "validityPeriodHours": 240, "earlyRenewalHours": 48}, 0)
	c := cert(t, leaf)
	roots := x509.NewCertPool()
	roots.AddCert(cert(t, ca))
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: "10.21.0.10", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("leaf for 10.21.0.10 as a server: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: "10.21.0.11", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("the leaf verifies for an address it was not asked for")
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("the leaf verifies as a client, a use it was not asked for")
	}
	if got := c.NotAfter.Sub(c.NotBefore); got != 240*time.Hour {
		t.Errorf("validity %s, want 240h", got)
	}
	if Renewing(leaf) {
		t.Error("a fresh certificate is renewing")
	}
	defer func(now func() time.Time) { Now = now }(Now)
	Now = func() time.Time { return c.NotAfter.Add(-47 * time.Hour) }
	if !Renewing(leaf) {
		t.Error("47 h before expiry, inside a 48 h window, the certificate is not renewing")
	}
	if _, err := Create(LocallySignedCert, resource.NewPropertyMapFromMap(map[string]any{"certRequestPem": str(csr, "certRequestPem"),
		"caPrivateKeyPem": str(caKey, "privateKeyPem"), "caCertPem": str(ca, "certPem"), "allowedUses": []any{"serverAuht"}, "validityPeriodHours": 240}), 0); err == nil || !strings.Contains(err.Error(), "serverAuht") {
		t.Errorf("a misspelt use: %v", err)
	}
}
