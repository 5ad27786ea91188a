package components

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/components/discovery"
)

// Bootstrap modes.
const (
	BootstrapStatic    = "static"
	BootstrapDiscovery = "discovery"
)

// chooseBootstrap decides how the members first find each other, and checks
// that the flavor, the etcd line, the workers and the cloud can do it.
func (s *settings) chooseBootstrap() error {
	var errs []error
	// Static wherever the cloud knows the central hosts before the machines
	// exist, unless the operator minted a token. An unknown cloud has its
	// own error; it is not one more here.
	namable := true
	if s.provider != nil {
		var err error
		namable, err = s.provider.KnowsCentralHosts(s.DNSZone)
		errs = append(errs, err)
	}
	if s.Bootstrap == "" {
		s.Bootstrap = BootstrapStatic
		if s.DiscoveryURL != "" || s.os == cloud.ContainerLinux || s.WorkerProxy == string(cloudconfig.V2Proxy) || !namable {
			s.Bootstrap = BootstrapDiscovery
		}
	}
	switch s.Bootstrap {
	case BootstrapStatic:
		switch {
		case s.os == cloud.ContainerLinux:
			errs = append(errs, fmt.Errorf("bootstrap: %q is not available with flavor coreos-etcd2, which renders the seed's discovery cloud-config; want discovery", s.Bootstrap))
		case s.WorkerProxy == string(cloudconfig.V2Proxy):
			errs = append(errs, fmt.Errorf("bootstrap: %q leaves v2-proxy workers nothing to find the members through (they use the discovery URL); want workerProxy gateway, or bootstrap discovery", s.Bootstrap))
		case !namable:
			errs = append(errs, fmt.Errorf("bootstrap: %q on %s needs dnsZone, a domain of your %s account in which each central node gets a name (a machine's address is known only once it exists); set dnsZone, or bootstrap discovery", s.Bootstrap, s.Cloud, s.Cloud))
		case s.DiscoveryURL != "":
			errs = append(errs, fmt.Errorf("discoveryUrl: set, but bootstrap is static, which uses none; unset discoveryUrl, or set bootstrap discovery"))
		}
	case BootstrapDiscovery:
		if s.os == cloud.Flatcar && !s.etcd().HasV2Discovery() && s.etcd().Release() != "" {
			errs = append(errs, fmt.Errorf("bootstrap: %q is not available with etcd %s, which removed v2 discovery; want static", s.Bootstrap, s.EtcdVersion))
		}
	default:
		errs = append(errs, fmt.Errorf("bootstrap: %q is not supported; want static or discovery", s.Bootstrap))
	}
	return errors.Join(errs...)
}

// chooseTLS applies the TLS default and its lifetimes' defaults. TLS is on
// unless the stack sets a discovery URL (every cluster made before TLS,
// which runs plaintext: a new release never changes how it speaks), chooses
// discovery bootstrap, or chooses coreos-etcd2, whose seed cloud-config has
// no TLS.
func (s *settings) chooseTLS() error {
	switch {
	case s.TLS != nil:
		s.tls = *s.TLS
	case s.DiscoveryURL != "":
		s.offBecause = "discoveryUrl is set (a cluster made before TLS, which runs plaintext)"
	case s.Bootstrap == BootstrapDiscovery:
		s.offBecause = "bootstrap is discovery (members advertise addresses known only at boot, which no certificate can name beforehand)"
	case s.Flavor == string(cloudconfig.CoreOSEtcd2):
		s.offBecause = "flavor coreos-etcd2 renders the seed's etcd2 cloud-config, without TLS"
	default:
		s.tls = true
	}
	s.CertDays = cmp.Or(s.CertDays, DefaultCertDays)
	s.CADays = cmp.Or(s.CADays, DefaultCADays)
	return nil
}

// checkTLS checks that the nodes, their workers and the cloud can speak
// mutual TLS when it is on, that turning it off was acknowledged, and the
// certificate lifetimes.
func (s *settings) checkTLS() error {
	var errs []error
	proxy := cloudconfig.WorkerProxy(s.WorkerProxy)
	switch {
	case !s.tls && !s.PlaintextAcknowledged:
		what := "tls: false turns it off"
		if s.TLS == nil {
			what = "tls is off because " + s.offBecause
		}
		errs = append(errs, fmt.Errorf("%s, which is refused outside a dev stack: any process that reaches the private network could read and rewrite every key; set tls: true (see docs/security.md; a running cluster needs the migration in docs/operations.md), or set tlsOffAcknowledged: true to accept plaintext", what))
	case !s.tls && proxy == cloudconfig.GRPCProxy:
		errs = append(errs, fmt.Errorf("workerProxy: %q authenticates to the members with a certificate, so it needs tls; want gateway, or tls: true", s.WorkerProxy))
	}
	if s.tls {
		switch {
		case s.os == cloud.ContainerLinux:
			errs = append(errs, fmt.Errorf("tls: true is not available with flavor coreos-etcd2, the seed's exact etcd2 cloud-config, which this program renders without TLS; unset tls (and set tlsOffAcknowledged: true outside a dev stack), or use flavor flatcar"))
		case proxy == cloudconfig.Gateway || proxy == cloudconfig.V2Proxy:
			errs = append(errs, fmt.Errorf("workerProxy: %q cannot present the workers' client certificate to the members (it forwards plaintext); want grpc-proxy (the default with tls), or tls: false", s.WorkerProxy))
		case s.Bootstrap == BootstrapDiscovery:
			// A member's certificate names the host peers and clients dial,
			// which only static bootstrap renders before the machine exists.
			errs = append(errs, fmt.Errorf("tls needs bootstrap static (on %s: a fixed address or a name in dnsZone per member, which its certificate names); set bootstrap static (dnsZone on DigitalOcean), or tls: false", s.Cloud))
		}
	}
	if s.CertDays < MinCertDays || s.CertDays > MaxCertDays {
		errs = append(errs, fmt.Errorf("tlsCertDays: %d is not allowed; want %d to %d days (default %d)", s.CertDays, MinCertDays, MaxCertDays, DefaultCertDays))
	}
	if s.CAGeneration < 0 {
		errs = append(errs, fmt.Errorf("tlsCaGeneration: %d is not allowed; want 0 (the first CA) or more", s.CAGeneration))
	}
	switch {
	case s.CARotation != "" && s.CARotation != CATrustNext && s.CARotation != CASignNext:
		errs = append(errs, fmt.Errorf("tlsCaRotation: %q is not a stage; want %s, then %s, then unset with tlsCaGeneration one higher (docs/operations.md, Rotating the CA)", s.CARotation, CATrustNext, CASignNext))
	case s.CARotation != "" && !s.tls:
		errs = append(errs, fmt.Errorf("tlsCaRotation: %q rotates the CA of a cluster with tls on; this one has it off", s.CARotation))
	}
	if s.CADays < 2*s.CertDays || s.CADays > MaxCADays {
		errs = append(errs, fmt.Errorf("tlsCaDays: %d is not allowed; want %d (twice tlsCertDays, so leaves renew under one CA) to %d days (default %d)", s.CADays, 2*s.CertDays, MaxCADays, DefaultCADays))
	}
	return errors.Join(errs...)
}

// checkDiscoveryURL requires a discovery token URL.
func checkDiscoveryURL(raw string) error {
	const mint = "mint one with `go run ./cmd/discovery-url --size <centralCount>`"
	if raw == "" {
		return fmt.Errorf("discoveryUrl: required; %s and store it with `pulumi config set --secret discoveryUrl <url>`", mint)
	}
	if _, err := discovery.ParseURL(raw); err != nil {
		return fmt.Errorf("discoveryUrl: %w; %s", err, mint)
	}
	return nil
}
