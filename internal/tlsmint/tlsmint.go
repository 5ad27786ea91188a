// Package tlsmint does what the Pulumi TLS provider does when it creates a
// resource: real keys, requests and certificates, made from exactly the
// inputs the program registered. Where no TLS provider runs (the mock
// engine under which the rehearsal reads its plan, the stand-in provider
// under the real engine), a certificate the program asked for wrongly (a
// missing address, a wrong usage) is wrong here too, and fails the TLS
// handshakes that use it.
package tlsmint

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Types are the TLS provider's resource types tlsmint makes.
const (
	PrivateKey        = "tls:index/privateKey:PrivateKey"
	SelfSignedCert    = "tls:index/selfSignedCert:SelfSignedCert"
	CertRequest       = "tls:index/certRequest:CertRequest"
	LocallySignedCert = "tls:index/locallySignedCert:LocallySignedCert"
)

// ReplaceOn are the inputs of each type whose change replaces it: all of
// them, as the TLS provider has it.
var ReplaceOn = map[string][]string{
	PrivateKey:        {"algorithm", "ecdsaCurve", "rsaBits"},
	SelfSignedCert:    {"privateKeyPem", "subject", "dnsNames", "ipAddresses", "uris", "isCaCertificate", "allowedUses", "validityPeriodHours", "earlyRenewalHours", "setSubjectKeyId", "setAuthorityKeyId", "maxPathLength"},
	CertRequest:       {"privateKeyPem", "subject", "dnsNames", "ipAddresses", "uris"},
	LocallySignedCert: {"certRequestPem", "caPrivateKeyPem", "caCertPem", "isCaCertificate", "allowedUses", "validityPeriodHours", "earlyRenewalHours", "setSubjectKeyId", "maxPathLength"},
}

// Now is the clock certificates are issued by; tests move it to reach a
// renewal window.
var Now = time.Now

// minted remembers what this process made, by type, seed and inputs, as a
// stack's state does: a program run twice under the mock engine gets the
// same certificates, so only what its inputs change differs.
var minted sync.Map

// Renew drops every locally signed certificate minted, as the update after
// their renewal window does: the next run signs them afresh, at Now, for
// the same keys and requests under the same CA.
func Renew() {
	minted.Range(func(k, _ any) bool {
		if strings.HasPrefix(k.(string), LocallySignedCert+"\x00") {
			minted.Delete(k)
		}
		return true
	})
}

// Create returns the outputs the TLS provider computes for a resource of
// type typ created from inputs. n seeds a private key, so the same n gives
// the same key.
func Create(typ string, inputs resource.PropertyMap, n uint32) (resource.PropertyMap, error) {
	in := inputs.Copy()
	for k, v := range in {
		if v.IsSecret() {
			in[k] = v.SecretValue().Element
		}
	}
	canon, err := json.Marshal(in.Mappable())
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s\x00%d\x00%s", typ, n, canon)
	if out, ok := minted.Load(key); ok {
		return out.(resource.PropertyMap).Copy(), nil
	}
	out := inputs.Copy()
	switch typ {
	case PrivateKey:
		err = privateKey(in, out, n)
	case SelfSignedCert:
		err = selfSigned(in, out)
	case CertRequest:
		err = certRequest(in, out)
	case LocallySignedCert:
		err = locallySigned(in, out)
	default:
		err = fmt.Errorf("not a TLS resource type")
	}
	if err != nil {
		return nil, fmt.Errorf("tlsmint %s: %w", typ, err)
	}
	minted.Store(key, out.Copy())
	return out, nil
}

// Renewing reports whether a certificate's outputs put it within its early
// renewal window now: the TLS provider then plans a replacement.
func Renewing(outputs resource.PropertyMap) bool {
	end, err := time.Parse(time.RFC3339, str(outputs, "validityEndTime"))
	if err != nil {
		return false
	}
	early := time.Duration(num(outputs, "earlyRenewalHours")) * time.Hour
	return !Now().Before(end.Add(-early))
}

func privateKey(in, out resource.PropertyMap, n uint32) error {
	if a, c := str(in, "algorithm"), str(in, "ecdsaCurve"); a != "ECDSA" || c != "P256" {
		return fmt.Errorf("algorithm %q curve %q: tlsmint makes ECDSA P256 keys only", a, c)
	}
	// A scalar from n: reproducible, and below the curve's order.
	seed := sha256.Sum256(binary.BigEndian.AppendUint32([]byte("tlsmint"), n))
	d := new(big.Int).SetBytes(seed[:])
	d.Mod(d, new(big.Int).Sub(elliptic.P256().Params().N, big.NewInt(1)))
	d.Add(d, big.NewInt(1))
	raw := make([]byte, 32)
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d.FillBytes(raw))
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	out["privateKeyPem"] = resource.MakeSecret(resource.NewStringProperty(encode("EC PRIVATE KEY", der)))
	out["publicKeyPem"] = resource.NewStringProperty(encode("PUBLIC KEY", pub))
	return nil
}

func selfSigned(in, out resource.PropertyMap) error {
	key, err := parseKey(str(in, "privateKeyPem"))
	if err != nil {
		return err
	}
	t, err := template(in, subject(in))
	if err != nil {
		return err
	}
	t.DNSNames, t.IPAddresses, err = sans(in)
	if err != nil {
		return err
	}
	if b, _ := in["isCaCertificate"]; b.IsBool() && b.BoolValue() {
		t.IsCA, t.BasicConstraintsValid = true, true
	}
	if v, _ := in["setSubjectKeyId"]; v.IsBool() && v.BoolValue() {
		t.SubjectKeyId = keyID(key.Public())
	}
	der, err := x509.CreateCertificate(rand.Reader, t, t, key.Public(), key)
	if err != nil {
		return err
	}
	return certOutputs(out, t, der)
}

func certRequest(in, out resource.PropertyMap) error {
	key, err := parseKey(str(in, "privateKeyPem"))
	if err != nil {
		return err
	}
	r := &x509.CertificateRequest{Subject: subject(in)}
	if r.DNSNames, r.IPAddresses, err = sans(in); err != nil {
		return err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, r, key)
	if err != nil {
		return err
	}
	out["certRequestPem"] = resource.NewStringProperty(encode("CERTIFICATE REQUEST", der))
	return nil
}

func locallySigned(in, out resource.PropertyMap) error {
	block, _ := pem.Decode([]byte(str(in, "certRequestPem")))
	if block == nil {
		return errors.New("certRequestPem: no PEM block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return err
	}
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("certRequestPem: %w", err)
	}
	caKey, err := parseKey(str(in, "caPrivateKeyPem"))
	if err != nil {
		return fmt.Errorf("caPrivateKeyPem: %w", err)
	}
	block, _ = pem.Decode([]byte(str(in, "caCertPem")))
	if block == nil {
		return errors.New("caCertPem: no PEM block")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	t, err := template(in, csr.Subject)
	if err != nil {
		return err
	}
	t.DNSNames, t.IPAddresses = csr.DNSNames, csr.IPAddresses
	t.AuthorityKeyId = ca.SubjectKeyId
	der, err := x509.CreateCertificate(rand.Reader, t, ca, csr.PublicKey, caKey)
	if err != nil {
		return err
	}
	return certOutputs(out, t, der)
}

// template is a certificate of the registered validity and usages.
func template(in resource.PropertyMap, subj pkix.Name) (*x509.Certificate, error) {
	hours := num(in, "validityPeriodHours")
	if hours <= 0 {
		return nil, fmt.Errorf("validityPeriodHours %d: want more than 0", hours)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := Now().UTC().Truncate(time.Second)
	t := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subj,
		NotBefore:    now,
		NotAfter:     now.Add(time.Duration(hours) * time.Hour),
	}
	for _, u := range strs(in, "allowedUses") {
		switch u {
		case "digitalSignature":
			t.KeyUsage |= x509.KeyUsageDigitalSignature
		case "keyEncipherment":
			t.KeyUsage |= x509.KeyUsageKeyEncipherment
		case "certSigning":
			t.KeyUsage |= x509.KeyUsageCertSign
		case "crlSigning":
			t.KeyUsage |= x509.KeyUsageCRLSign
		case "serverAuth":
			t.ExtKeyUsage = append(t.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		case "clientAuth":
			t.ExtKeyUsage = append(t.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		default:
			return nil, fmt.Errorf("allowedUses: %q is not one tlsmint makes", u)
		}
	}
	return t, nil
}

func certOutputs(out resource.PropertyMap, t *x509.Certificate, der []byte) error {
	out["certPem"] = resource.NewStringProperty(encode("CERTIFICATE", der))
	out["validityStartTime"] = resource.NewStringProperty(t.NotBefore.Format(time.RFC3339))
	out["validityEndTime"] = resource.NewStringProperty(t.NotAfter.Format(time.RFC3339))
	out["readyForRenewal"] = resource.NewBoolProperty(Renewing(out))
	return nil
}

func subject(in resource.PropertyMap) pkix.Name {
	var n pkix.Name
	if v, ok := in["subject"]; ok && v.IsObject() {
		s := v.ObjectValue()
		n.CommonName = str(s, "commonName")
		if o := str(s, "organization"); o != "" {
			n.Organization = []string{o}
		}
	}
	return n
}

func sans(in resource.PropertyMap) ([]string, []net.IP, error) {
	var ips []net.IP
	for _, s := range strs(in, "ipAddresses") {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, nil, fmt.Errorf("ipAddresses: %q is not an IP address", s)
		}
		ips = append(ips, ip)
	}
	return strs(in, "dnsNames"), ips, nil
}

func parseKey(p string) (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, errors.New("private key: no PEM block")
	}
	return x509.ParseECPrivateKey(block.Bytes)
}

// keyID is the subject key identifier of pub: the leftmost 160 bits of its
// SHA-256 (RFC 7093, method 1).
func keyID(pub crypto.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return sum[:20]
}

func encode(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func str(m resource.PropertyMap, k string) string {
	if v, ok := m[resource.PropertyKey(k)]; ok {
		if v.IsSecret() {
			v = v.SecretValue().Element
		}
		if v.IsString() {
			return v.StringValue()
		}
	}
	return ""
}

func num(m resource.PropertyMap, k string) int {
	if v, ok := m[resource.PropertyKey(k)]; ok && v.IsNumber() {
		return int(v.NumberValue())
	}
	return 0
}

func strs(m resource.PropertyMap, k string) []string {
	v, ok := m[resource.PropertyKey(k)]
	if !ok || !v.IsArray() {
		return nil
	}
	var out []string
	for _, e := range v.ArrayValue() {
		if e.IsString() {
			out = append(out, e.StringValue())
		}
	}
	return out
}
