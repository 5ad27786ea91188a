package components

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"golang.org/x/crypto/ssh"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/components/discovery"
)

// ClusterArgs are one cluster's settings, named after the stack config keys.
// Empty strings take the defaults documented in Pulumi.yaml. Image and
// SSHAuthorizedKeys are Pulumi inputs, so they may be other resources'
// outputs: given as values (pulumi.String, pulumi.StringArray of
// pulumi.String) they are checked with everything else before anything is
// registered; given as outputs, when they resolve, and a value not allowed
// fails the run with the same message.
type ClusterArgs struct {
	Cloud string
	// Region is required on DigitalOcean. On AWS, set, it pins the cluster
	// to it through an AWS provider of its own; unset, the default AWS
	// provider's region (aws:region) is the cluster's.
	Region       string
	CentralCount int
	WorkerCount  int
	CentralSize  string
	WorkerSize   string
	Flavor       string
	WorkerProxy  string
	// ConfigFormat is what the nodes' user data is: cloud-config (the
	// default) or ignition.
	ConfigFormat string
	// EtcdVersion is the etcd line of flatcar nodes: 3.5, 3.6 or 3.7.
	// Empty is 3.6, or 3.5 when a discovery URL is set.
	EtcdVersion string
	// Bootstrap is how the central members first find each other: static
	// (an initial cluster rendered at deploy time) or discovery (through
	// DiscoveryURL). Empty is static wherever the cloud can name the central
	// nodes before they exist, unless a discovery URL is set.
	Bootstrap string
	// DNSZone is a domain the operator manages on DigitalOcean, for static
	// bootstrap there: each central node gets a name in it.
	DNSZone string
	// Image is the machine image; unset (nil or "") is the cloud's Flatcar.
	Image        pulumi.StringInput
	DiscoveryURL string
	// DiscoveryURLSecret makes the discovery URL, and every user data and
	// output that carries it, a Pulumi secret.
	DiscoveryURLSecret bool
	// SkipDiscoveryCheck turns off the read-only pre-flight check of the
	// discovery token (stack config discoveryCheck: false), for offline previews.
	SkipDiscoveryCheck bool
	SSHAuthorizedKeys  pulumi.StringArrayInput
	SSHAllowedCidrs    []string
	VpcCidr            string
	Tags               map[string]string
	// ProtectCentral protects everything central nodes, their data, names
	// and backups depend on, and the cluster's destroy guard.
	ProtectCentral bool
	// RollCentral names the one central node that may take the current
	// image, user data and size now, which replaces or resizes its machine;
	// empty rolls none.
	RollCentral string
	// TLS turns mutual TLS between nodes on or off; nil is on, or off on a
	// stack that sets a discovery URL (every cluster made before TLS), so a
	// new release never changes how a running cluster speaks.
	TLS *bool
	// PlaintextAcknowledged lets TLS be off: the stack is a dev stack, or
	// its operator set tlsOffAcknowledged.
	PlaintextAcknowledged bool
	// CertDays and CADays are the lifetimes of the leaf certificates and of
	// the CA, in days; 0 takes the defaults.
	CertDays int
	CADays   int
	// CAGeneration is the CA that signs (0, the first, by default);
	// CARotation is the stage of rotating to the next: "", CATrustNext or
	// CASignNext (docs/operations.md, Rotating the CA).
	CAGeneration int
	CARotation   string
	// Backup turns the central nodes' scheduled snapshots off when false;
	// nil is on, but for coreos-etcd2. BackupSchedule is when (systemd
	// OnCalendar, default hourly); BackupBucket an existing bucket to use
	// instead of one the program creates, whose snapshots expire after
	// BackupRetentionDays (0 is the default).
	Backup              *bool
	BackupSchedule      string
	BackupBucket        string
	BackupRetentionDays int
	// RestoreFrom, set, makes blank central members restore a snapshot at
	// first boot: RestoreLatest or an object key in the bucket.
	RestoreFrom string
	// BackupIdentity is the age identity (AGE-SECRET-KEY-1...) that
	// decrypts the snapshot RestoreFrom names: the backupIdentity output of
	// the stack that took it. Only a restoring node ever holds it.
	BackupIdentity string
	// CompactionRetention is the history members keep (etcd's periodic
	// auto-compaction), QuotaBackendMiB the database size at which they
	// refuse writes (NOSPACE); empty and 0 take the defaults.
	CompactionRetention string
	QuotaBackendMiB     int
	// MonitoringCidrs may reach every node's metrics port, besides the
	// cluster's own nodes.
	MonitoringCidrs []string
	// MonitoringGroups may too: AWS security group ids, DigitalOcean tags.
	MonitoringGroups []string
	// EtcdAuth turns etcd's authentication off when false; nil is on with
	// TLS. WorkerKeyPrefixes are the only keys the workers' clients may
	// read and write; empty is every key (docs/security.md).
	EtcdAuth          *bool
	WorkerKeyPrefixes []string
}

// Defaults for keys the stack may leave unset.
const (
	DefaultCloud        = "aws"
	DefaultCentralCount = 3
	DefaultVpcCidr      = "10.21.0.0/16"
	// DefaultEtcdVersion is the line new clusters run. A stack that sets a
	// discovery URL defaults to DiscoveryEtcdVersion instead: every cluster
	// created before static bootstrap has one and runs 3.5, and moving it to
	// 3.6 is the upgrade procedure of docs/operations.md, never a side effect
	// of a new release of the program.
	DefaultEtcdVersion   = cloudconfig.Etcd36
	DiscoveryEtcdVersion = cloudconfig.Etcd35
	// Certificate lifetimes, in days, and their bounds: a leaf lives at
	// least a week (renewal is an update and a roll) and at most 825 days;
	// the CA outlives two leaf lifetimes, so leaves renew under one CA.
	DefaultCertDays = 365
	MinCertDays     = 7
	MaxCertDays     = 825
	DefaultCADays   = 3650
	MaxCADays       = 7300
)

// settings are validated arguments with every default applied.
type settings struct {
	ClusterArgs
	provider cloud.Provider
	os       cloud.OS
	// name is the cluster's; centralNames name its central nodes, in node
	// order.
	name         string
	centralNames []string
	// image is Image once checked: nil for the cloud's Flatcar image, or an
	// input that fails the run when it resolves to a value not allowed.
	image pulumi.StringInput
	// sshKeys are SSHAuthorizedKeys once checked, likewise.
	sshKeys pulumi.StringArrayOutput
	// tls is whether nodes speak mutual TLS, default applied; offBecause
	// says why when the default is off.
	tls        bool
	offBecause string
	// auth is whether etcd's authentication is on, default applied.
	auth bool
	// backup is whether central nodes take scheduled snapshots, default
	// applied.
	backup bool
	// backupKey is the age key pair snapshots are encrypted to, once
	// registered; nil with backups off.
	backupKey *backupKey
}

// validate checks the settings of the cluster called name, in steps that
// each apply their defaults and report every value they refuse. Each error
// names the stack config key, the value given and what is allowed.
func (a ClusterArgs) validate(name string) (settings, error) {
	s := &settings{ClusterArgs: a, name: name}
	err := errors.Join(
		s.chooseCloud(),
		s.checkCounts(name),
		s.chooseTLS(),
		s.chooseFlavor(),
		s.chooseConfigFormat(),
		s.chooseBootstrap(),
		s.checkTLS(),
		s.checkAuth(),
		s.chooseBackup(),
		s.chooseHousekeeping(),
		s.checkImageArg(),
		s.checkPlacement(),
		s.checkAccess(),
		s.checkNetwork(),
	)
	return *s, err
}

// chooseCloud picks the backend of the cloud key.
func (s *settings) chooseCloud() error {
	if s.Cloud == "" {
		s.Cloud = DefaultCloud
	}
	newProvider, ok := Clouds[s.Cloud]
	if !ok {
		return fmt.Errorf("cloud: %q is not supported; want %s", s.Cloud, cloudNames())
	}
	s.provider = newProvider()
	return nil
}

// checkCounts checks the node counts and names the central nodes.
func (s *settings) checkCounts(name string) error {
	var errs []error
	if s.CentralCount < 1 || s.CentralCount > 7 || s.CentralCount%2 == 0 {
		errs = append(errs, fmt.Errorf("centralCount: %d is not allowed; want 1, 3, 5 or 7: etcd commits a write once a majority of voting members agree, so an even count adds a voter but no fault tolerance, and more than 7 slows every write", s.CentralCount))
	} else {
		for i := range s.CentralCount {
			s.centralNames = append(s.centralNames, CentralName(name, i))
		}
	}
	if s.RollCentral != "" && s.centralNames != nil && !slices.Contains(s.centralNames, s.RollCentral) {
		errs = append(errs, fmt.Errorf("rollCentral: %q is not a central node of this cluster; want one of %s", s.RollCentral, strings.Join(s.centralNames, ", ")))
	}
	if s.WorkerCount < 0 {
		errs = append(errs, fmt.Errorf("workerCount: %d is not allowed; want 0 or more", s.WorkerCount))
	}
	return errors.Join(errs...)
}

// chooseFlavor checks the flavor, its etcd line and the worker proxy they
// can run.
func (s *settings) chooseFlavor() error {
	if s.Flavor == "" {
		s.Flavor = string(cloudconfig.Flatcar)
	}
	flavor := cloudconfig.Flavor(s.Flavor)
	switch flavor {
	case cloudconfig.Flatcar:
		s.os = cloud.Flatcar
	case cloudconfig.CoreOSEtcd2:
		s.os = cloud.ContainerLinux
	default:
		// No worker proxy default either: one error, not a knock-on one.
		return fmt.Errorf("flavor: %q is not supported; want flatcar (default) or coreos-etcd2", s.Flavor)
	}
	if s.WorkerProxy == "" {
		s.WorkerProxy = string(flavor.DefaultWorkerProxy())
		if s.tls && flavor == cloudconfig.Flatcar {
			s.WorkerProxy = string(cloudconfig.GRPCProxy)
		}
	}
	errs := []error{s.chooseEtcdVersion(flavor)}
	switch proxy := cloudconfig.WorkerProxy(s.WorkerProxy); {
	case !slices.Contains(cloudconfig.WorkerProxies, proxy):
		errs = append(errs, fmt.Errorf("workerProxy: %q is not supported; want grpc-proxy (default on flatcar with tls), gateway (default on flatcar without tls) or v2-proxy", s.WorkerProxy))
	case !flavor.Supports(proxy):
		errs = append(errs, fmt.Errorf("workerProxy: %q is not available with flavor %s (etcd2 has only its v2 proxy); want v2-proxy, or leave it unset", s.WorkerProxy, s.Flavor))
	case proxy == cloudconfig.V2Proxy && flavor == cloudconfig.Flatcar && s.etcd().Release() != "" && !s.etcd().ServesV2():
		errs = append(errs, fmt.Errorf("workerProxy: %q needs etcdVersion 3.5: etcd %s removed the v2 proxy; want gateway", s.WorkerProxy, s.EtcdVersion))
	}
	return errors.Join(errs...)
}

// chooseEtcdVersion checks the etcd line, which only flatcar nodes take.
func (s *settings) chooseEtcdVersion(flavor cloudconfig.Flavor) error {
	if flavor != cloudconfig.Flatcar {
		if s.EtcdVersion != "" {
			return fmt.Errorf("etcdVersion: %q does not apply to flavor %s, whose nodes run their image's etcd2; leave it unset", s.EtcdVersion, s.Flavor)
		}
		return nil
	}
	if s.EtcdVersion == "" {
		s.EtcdVersion = string(DefaultEtcdVersion)
		if s.DiscoveryURL != "" {
			s.EtcdVersion = string(DiscoveryEtcdVersion)
		}
	}
	if s.etcd().Release() == "" {
		return fmt.Errorf("etcdVersion: %q is not supported; want 3.5, 3.6 (default) or 3.7", s.EtcdVersion)
	}
	return nil
}

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

func (s *settings) static() bool { return s.Bootstrap == BootstrapStatic }

func (s *settings) etcd() cloudconfig.EtcdVersion { return cloudconfig.EtcdVersion(s.EtcdVersion) }

// checkImageArg checks an image given as a value now, and one given as
// another resource's output when it resolves.
func (s *settings) checkImageArg() error {
	image, known := plainString(s.Image)
	switch {
	case !known:
		s.image = s.Image.ToStringOutput().ApplyT(func(v string) (string, error) { return v, s.checkImage(v) }).(pulumi.StringOutput)
	case image != "" || s.os == cloud.ContainerLinux:
		s.image = pulumi.String(image)
		return s.checkImage(image)
	}
	return nil
}

// checkPlacement checks the region and the machine sizes, defaulting the
// sizes to the cloud's.
func (s *settings) checkPlacement() error {
	var errs []error
	if s.provider != nil {
		errs = append(errs, s.provider.CheckRegion(s.Region))
		central, worker := s.provider.DefaultSizes()
		s.CentralSize = cmp.Or(s.CentralSize, central)
		s.WorkerSize = cmp.Or(s.WorkerSize, worker)
	}
	for key, size := range map[string]string{"centralSize": s.CentralSize, "workerSize": s.WorkerSize} {
		// Unset with an unknown cloud has no default: the cloud's error says it.
		if size != "" && !machineSize.MatchString(size) || size == "" && s.provider != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a machine size; want the cloud's name for one, such as t3.medium or s-2vcpu-4gb", key, size))
		}
	}
	return errors.Join(errs...)
}

// checkAccess checks who and what may reach the nodes: the discovery URL,
// the SSH keys (now, or when they resolve) and the SSH source blocks.
func (s *settings) checkAccess() error {
	var errs []error
	if !s.static() {
		errs = append(errs, checkDiscoveryURL(s.DiscoveryURL))
	}
	if keys, known := plainStrings(s.SSHAuthorizedKeys); known {
		errs = append(errs, checkSSHKeys(keys))
		s.sshKeys = pulumi.ToStringArray(keys).ToStringArrayOutput()
	} else {
		s.sshKeys = s.SSHAuthorizedKeys.ToStringArrayOutput().ApplyT(func(keys []string) ([]string, error) {
			return keys, checkSSHKeys(keys)
		}).(pulumi.StringArrayOutput)
	}
	for i, c := range s.SSHAllowedCidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil || p != p.Masked() {
			errs = append(errs, fmt.Errorf("sshAllowedCidrs[%d]: %q is not a CIDR block; want a network address and prefix such as 203.0.113.0/24 or 2001:db8::/32", i, c))
		}
	}
	return errors.Join(errs...)
}

// checkNetwork checks the private network and the tags.
func (s *settings) checkNetwork() error {
	var errs []error
	s.VpcCidr = cmp.Or(s.VpcCidr, DefaultVpcCidr)
	if p, err := netip.ParsePrefix(s.VpcCidr); err != nil || p != p.Masked() || !p.Addr().Is4() || !p.Addr().IsPrivate() || p.Bits() < 16 || p.Bits() > 24 {
		errs = append(errs, fmt.Errorf("vpcCidr: %q is not allowed; want a private IPv4 network from /16 to /24, such as %s", s.VpcCidr, DefaultVpcCidr))
	}
	for k, v := range s.Tags {
		if k == "" || strings.HasPrefix(k, reservedTagPrefix) || len(k) > 128 || len(v) > 256 {
			errs = append(errs, fmt.Errorf("tags: key %q (value %q) is not allowed; want a non-empty key of up to 128 characters not starting with %q, and a value of up to 256", k, v, reservedTagPrefix))
		}
	}
	return errors.Join(errs...)
}

// cloudConfig is what a node's user data is rendered from, once the SSH
// keys and the node's TLS pair have resolved.
func (s settings) cloudConfig(sshKeys, tlsPair []string) cloudconfig.Settings {
	return cloudconfig.Settings{
		TLS:               nodeTLS(tlsPair),
		Auth:              s.nodeAuth(authPassword(tlsPair)),
		Flavor:            cloudconfig.Flavor(s.Flavor),
		WorkerProxy:       cloudconfig.WorkerProxy(s.WorkerProxy),
		EtcdVersion:       s.etcd(),
		ClusterToken:      s.name,
		DiscoveryURL:      s.DiscoveryURL,
		SSHAuthorizedKeys: sshKeys,
		Housekeeping:      s.housekeeping(),
	}
}

// checkImage checks an image given as a value, or another resource's output
// once resolved. Unset is allowed except on coreos-etcd2; an output that
// resolves to "" is never an image.
func (s settings) checkImage(image string) error {
	switch {
	case image == "" && s.os == cloud.ContainerLinux:
		return errors.New("image: required with flavor coreos-etcd2; no etcd2 image is published any more, so pass the AMI or DigitalOcean image you still run")
	case s.provider == nil:
		return nil // An unknown cloud has no images; the cloud's error says so.
	}
	return s.provider.CheckImage(image)
}

// checkSSHKeys accepts exactly one OpenSSH public key per entry.
func checkSSHKeys(keys []string) error {
	var errs []error
	for i, k := range keys {
		if _, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil || len(strings.TrimSpace(string(rest))) > 0 || strings.ContainsAny(k, "\r\n") {
			errs = append(errs, fmt.Errorf("sshAuthorizedKeys[%d]: %q is not one OpenSSH public key; want a line such as \"ssh-ed25519 AAAA... user@host\"", i, abbreviate(k)))
		}
	}
	return errors.Join(errs...)
}

// plainString is in's value when it was given as one (or not at all) rather
// than as an output, which is known only once it resolves.
func plainString(in pulumi.StringInput) (string, bool) {
	switch v := in.(type) {
	case nil:
		return "", true
	case pulumi.String:
		return string(v), true
	}
	return "", false
}

// plainStrings is plainString for a list: a value only when every element is.
func plainStrings(in pulumi.StringArrayInput) ([]string, bool) {
	switch v := in.(type) {
	case nil:
		return nil, true
	case pulumi.StringArray:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(pulumi.String)
			if !ok {
				return nil, false
			}
			out[i] = string(s)
		}
		return out, true
	}
	return nil, false
}

// reservedTagPrefix marks the tags the program sets itself.
const reservedTagPrefix = "isolated-etcd:"

var machineSize = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)

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

// abbreviate keeps error messages readable when a value is a long key.
func abbreviate(s string) string {
	if len(s) <= 60 {
		return s
	}
	return s[:40] + "…" + s[len(s)-15:]
}
