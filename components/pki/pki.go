// Package pki registers a cluster's certificate authority and the
// certificates its nodes and operators present, as Pulumi TLS resources.
// Every private key is a secret in the stack's state, and the CA's key is
// used only to sign here: nothing this package returns carries it.
//
// It knows X.509 and Pulumi, nothing of clouds or etcd flags.
package pki

import (
	"fmt"
	"net/netip"

	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Lifetimes are how long certificates are valid, in hours.
type Lifetimes struct {
	CA   int
	Leaf int
}

// RenewBeforeHours is how long before its expiry a leaf certificate is
// replaced by the next `pulumi up` (the preview shows it as a replacement):
// 30 days, or a third of its lifetime when that is shorter.
func (l Lifetimes) RenewBeforeHours() int { return min(30*24, l.Leaf/3) }

// Usage is what a leaf certificate may be used for.
type Usage int

const (
	// ServerAndPeer is a member's: it serves clients and peers, and is
	// presented as a client when the member dials its peers.
	ServerAndPeer Usage = iota
	// Client only authenticates a client: a worker's proxy, an operator.
	Client
)

// allowedUses are the key usages of u, in the TLS provider's names.
func (u Usage) allowedUses() []string {
	if u == ServerAndPeer {
		return []string{"digitalSignature", "keyEncipherment", "serverAuth", "clientAuth"}
	}
	return []string{"digitalSignature", "keyEncipherment", "clientAuth"}
}

// caUses are the CA certificate's key usages.
var caUses = []string{"certSigning", "crlSigning", "digitalSignature"}

// Key algorithm of every key: ECDSA P-256 is what etcd's own guide uses
// with cfssl, and is cheap to handshake.
const (
	keyAlgorithm = "ECDSA"
	keyCurve     = "P256"
)

// Authority is a cluster's CA.
type Authority struct {
	// CertPEM is the CA certificate: public, every node trusts it.
	CertPEM pulumi.StringOutput
	// ExpiresAt is when the CA certificate expires (RFC 3339).
	ExpiresAt pulumi.StringOutput

	keyPEM    pulumi.StringOutput
	lifetimes Lifetimes
	opts      []pulumi.ResourceOption
}

// KeyPair is a leaf certificate and its private key (a secret).
type KeyPair struct {
	CertPEM   pulumi.StringOutput
	KeyPEM    pulumi.StringOutput
	ExpiresAt pulumi.StringOutput
}

// NewAuthority registers the CA called name: a key and a self-signed
// certificate. Leaves it issues get opts too.
func NewAuthority(ctx *pulumi.Context, name string, l Lifetimes, opts ...pulumi.ResourceOption) (*Authority, error) {
	key, err := newKey(ctx, name+"-ca", opts)
	if err != nil {
		return nil, err
	}
	cert, err := tls.NewSelfSignedCert(ctx, name+"-ca", &tls.SelfSignedCertArgs{
		PrivateKeyPem:       key,
		IsCaCertificate:     pulumi.Bool(true),
		AllowedUses:         pulumi.ToStringArray(caUses),
		ValidityPeriodHours: pulumi.Int(l.CA),
		SetSubjectKeyId:     pulumi.Bool(true),
		Subject: tls.SelfSignedCertSubjectArgs{
			CommonName:   pulumi.String(name + " etcd CA"),
			Organization: pulumi.String(name),
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("CA %s: %w", name, err)
	}
	return &Authority{CertPEM: cert.CertPem, ExpiresAt: cert.ValidityEndTime, keyPEM: key, lifetimes: l, opts: opts}, nil
}

// Issue registers a key and a certificate signed by the CA, its resources
// called name: commonName is its subject's (empty for none), hosts its
// subject alternative names, each an IP address or a DNS name as the host
// is dialled.
func (a *Authority) Issue(ctx *pulumi.Context, name, commonName string, u Usage, hosts []string) (KeyPair, error) {
	key, err := newKey(ctx, name, a.opts)
	if err != nil {
		return KeyPair{}, err
	}
	var ips, dns []string
	for _, h := range hosts {
		if _, err := netip.ParseAddr(h); err == nil {
			ips = append(ips, h)
		} else {
			dns = append(dns, h)
		}
	}
	csr, err := tls.NewCertRequest(ctx, name, &tls.CertRequestArgs{
		PrivateKeyPem: key,
		Subject:       tls.CertRequestSubjectArgs{CommonName: pulumi.StringPtrFromPtr(ptrOrNil(commonName))},
		IpAddresses:   pulumi.ToStringArray(ips),
		DnsNames:      pulumi.ToStringArray(dns),
	}, a.opts...)
	if err != nil {
		return KeyPair{}, fmt.Errorf("certificate request %s: %w", name, err)
	}
	cert, err := tls.NewLocallySignedCert(ctx, name, &tls.LocallySignedCertArgs{
		CertRequestPem:      csr.CertRequestPem,
		CaPrivateKeyPem:     a.keyPEM,
		CaCertPem:           a.CertPEM,
		AllowedUses:         pulumi.ToStringArray(u.allowedUses()),
		ValidityPeriodHours: pulumi.Int(a.lifetimes.Leaf),
		EarlyRenewalHours:   pulumi.Int(a.lifetimes.RenewBeforeHours()),
	}, a.opts...)
	if err != nil {
		return KeyPair{}, fmt.Errorf("certificate %s: %w", name, err)
	}
	return KeyPair{CertPEM: cert.CertPem, KeyPEM: key, ExpiresAt: cert.ValidityEndTime}, nil
}

func ptrOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// NewSecret registers a secret called name for passwords to be derived
// from: a private key no certificate uses, whose PEM is as random as the
// key (the TLS provider is the only source of randomness the program has).
func NewSecret(ctx *pulumi.Context, name string, opts ...pulumi.ResourceOption) (pulumi.StringOutput, error) {
	return newKey(ctx, name, opts)
}

// newKey registers a private key and returns its PEM, a secret.
func newKey(ctx *pulumi.Context, name string, opts []pulumi.ResourceOption) (pulumi.StringOutput, error) {
	k, err := tls.NewPrivateKey(ctx, name, &tls.PrivateKeyArgs{
		Algorithm:  pulumi.String(keyAlgorithm),
		EcdsaCurve: pulumi.String(keyCurve),
	}, opts...)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("private key %s: %w", name, err)
	}
	return pulumi.ToSecret(k.PrivateKeyPem).(pulumi.StringOutput), nil
}
