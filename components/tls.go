package components

import (
	"fmt"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/components/pki"
)

// TLS modes, as the tls output says.
const (
	TLSMutual = "mutual"
	TLSOff    = "off"
)

// CA rotation stages (tlsCaRotation): with each, an update and a roll of
// every node; then tlsCaGeneration moves on and the stage is cleared.
const (
	// CATrustNext: a next CA exists and every node trusts it too.
	CATrustNext = "trust-next"
	// CASignNext: the next CA signs every certificate; nodes still trust
	// the current one, which signed the certificates not yet rolled.
	CASignNext = "sign-next"
)

// clusterPKI is the cluster's CA and the pairs it has issued: one for all
// workers (they share one user data), one for the operator. nil with TLS off.
type clusterPKI struct {
	// ca signs; trusted are the CA certificates every node trusts, ca's
	// among them: two while the CA rotates.
	ca       *pki.Authority
	trusted  []pulumi.StringOutput
	workers  pki.KeyPair
	operator pki.KeyPair
	// workersSecret is what the workers' etcd password is derived from,
	// with authentication on.
	workersSecret pulumi.StringOutput
	auth          bool
	// warn reports a certificate near its expiry in the preview;
	// renewBefore is how near, in hours.
	warn        func(msg string)
	renewBefore int
}

// newPKI registers the CA and the workers' and operator's client pairs,
// children of c, when TLS is on.
func (s settings) newPKI(ctx *pulumi.Context, c *Cluster) (*clusterPKI, error) {
	if !s.tls {
		return nil, nil
	}
	life := pki.Lifetimes{CA: s.CADays * 24, Leaf: s.CertDays * 24}
	gens := []int{s.CAGeneration}
	if s.CARotation != "" {
		gens = append(gens, s.CAGeneration+1)
	}
	cas := make([]*pki.Authority, len(gens))
	for i, g := range gens {
		var err error
		if cas[i], err = pki.NewAuthority(ctx, caName(s.name, g), life, pulumi.Parent(c)); err != nil {
			return nil, err
		}
	}
	ca := cas[0]
	if s.CARotation == CASignNext {
		ca = cas[1]
	}
	p := &clusterPKI{ca: ca, renewBefore: life.RenewBeforeHours(), warn: func(msg string) { _ = ctx.Log.Warn(msg, &pulumi.LogArgs{Resource: c}) }}
	for _, a := range cas {
		p.trusted = append(p.trusted, a.CertPEM)
	}
	// The CA is never replaced by an update (every pair would change at
	// once): say when it is time to rotate it, while leaves still fit.
	ca.ExpiresAt.ApplyT(func(end string) error {
		if t, err := time.Parse(time.RFC3339, end); err == nil && time.Until(t) < time.Duration(life.Leaf)*time.Hour {
			p.warn(fmt.Sprintf("the etcd CA expires at %s, sooner than a certificate issued now would (tlsCertDays %d): rotate the CA as docs/operations.md says", end, s.CertDays))
		}
		return nil
	})
	// etcd grpc-proxy refuses an upstream certificate with a common name
	// (etcd would take it for a user under auth): the workers' has none.
	var err error
	if p.workers, err = p.issue(ctx, s.name+"-workers", "", pki.Client, nil); err != nil {
		return nil, err
	}
	if p.operator, err = p.issue(ctx, s.name+"-operator", s.operatorName(), pki.Client, nil); err != nil {
		return nil, err
	}
	if s.auth {
		p.auth = true
		if p.workersSecret, err = pki.NewSecret(ctx, s.workersUser()+"-password", pulumi.Parent(c)); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// caName names generation g of the cluster's CA: generation 0 keeps the
// name of a cluster's first, so that clusters made before rotation keep it.
func caName(cluster string, g int) string {
	if g == 0 {
		return cluster
	}
	return fmt.Sprintf("%s-gen%d", cluster, g)
}

// bundle is the CA certificates every node trusts, one PEM after another.
func (p *clusterPKI) bundle() pulumi.StringOutput {
	return pulumi.ToStringArrayOutput(p.trusted).ApplyT(func(pems []string) string {
		var b strings.Builder
		for _, pem := range pems {
			b.WriteString(strings.TrimRight(pem, "\n") + "\n")
		}
		return b.String()
	}).(pulumi.StringOutput)
}

// issue issues a pair and has the preview say when it is due for renewal.
func (p *clusterPKI) issue(ctx *pulumi.Context, name, commonName string, u pki.Usage, hosts []string) (pki.KeyPair, error) {
	pair, err := p.ca.Issue(ctx, name, commonName, u, hosts)
	if err != nil {
		return pki.KeyPair{}, err
	}
	pair.ExpiresAt.ApplyT(func(end string) error {
		if t, err := time.Parse(time.RFC3339, end); err == nil && time.Until(t) < time.Duration(p.renewBefore)*time.Hour {
			p.warn(fmt.Sprintf("certificate %s expires at %s: this update replaces it; then roll the nodes that carry it (docs/operations.md, renewal)", name, end))
		}
		return nil
	})
	return pair, nil
}

// member issues central node i's serving and peer pair, naming the host
// its peers and clients dial and its own loopback: the CA certificate, the
// certificate and the key. With TLS off it returns none.
func (p *clusterPKI) member(ctx *pulumi.Context, node string, hosts []string, i int) (pulumi.StringArrayOutput, error) {
	if p == nil {
		return noTLS(), nil
	}
	if i >= len(hosts) {
		return pulumi.StringArrayOutput{}, fmt.Errorf("tls: central node %s has no host known before it exists to put in its certificate", node)
	}
	pair, err := p.issue(ctx, node, node, pki.ServerAndPeer, []string{hosts[i], "127.0.0.1", "localhost"})
	if err != nil {
		return pulumi.StringArrayOutput{}, err
	}
	return p.with(pair), nil
}

// worker is the pair every worker carries.
func (p *clusterPKI) worker() pulumi.StringArrayOutput {
	if p == nil {
		return noTLS()
	}
	return p.with(p.workers)
}

// with is the trusted CA certificates, the pair's certificate and its key,
// and with authentication on the workers' password.
func (p *clusterPKI) with(pair pki.KeyPair) pulumi.StringArrayOutput {
	out := []pulumi.StringOutput{p.bundle(), pair.CertPEM, pair.KeyPEM}
	if p.auth {
		out = append(out, p.workersSecret.ApplyT(workersPassword).(pulumi.StringOutput))
	}
	return pulumi.ToStringArrayOutput(out)
}

func noTLS() pulumi.StringArrayOutput { return pulumi.StringArray{}.ToStringArrayOutput() }

// outputs are the tls, etcdCaCert, etcdClientCert and etcdClientKey outputs.
func (p *clusterPKI) outputs() (mode, ca, cert, key pulumi.StringOutput) {
	if p == nil {
		empty := pulumi.String("").ToStringOutput()
		return pulumi.String(TLSOff).ToStringOutput(), empty, empty, empty
	}
	return pulumi.String(TLSMutual).ToStringOutput(), p.bundle(), p.operator.CertPEM, p.operator.KeyPEM
}

// nodeTLS turns a resolved pair (CA certificate, certificate, key, and
// the workers' password with authentication) into what the renderer
// takes; nil for none.
func nodeTLS(pair []string) *cloudconfig.NodeTLS {
	if len(pair) < 3 {
		return nil
	}
	return &cloudconfig.NodeTLS{CACert: pair[0], Cert: pair[1], Key: pair[2]}
}

// authPassword is the workers' password of a resolved pair, "" for none.
func authPassword(pair []string) string {
	if len(pair) < 4 {
		return ""
	}
	return pair[3]
}
