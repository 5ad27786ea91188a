package components

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
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
	// BackupCopyRegion, set, is another region where the program creates a
	// second bucket, alike, that every snapshot is uploaded to as well.
	BackupCopyRegion string
	// BackupRevisionThreshold, more than 0, makes central nodes take a
	// snapshot between scheduled ones once etcd's revision has moved more
	// than this since the last (checked every 5 minutes).
	BackupRevisionThreshold int
	// BackupKeepHourly, BackupKeepDaily and BackupKeepWeekly, any set, are
	// the retention policy (components/retention) that output
	// backupRetentionCommand applies: the newest snapshot of each of the
	// last so many hours, days and ISO weeks is kept, the rest deleted by
	// the operator; all 0, the lifecycle rule's flat expiry only.
	BackupKeepHourly, BackupKeepDaily, BackupKeepWeekly int
	// RestoreFrom, set, makes blank central members restore a snapshot at
	// first boot: RestoreLatest or an object key in the bucket.
	RestoreFrom string
	// RestoreFromCopy looks RestoreFrom up in, and restores it from, the
	// second bucket (BackupCopyRegion), as when the first one's region is
	// down.
	RestoreFromCopy bool
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

func (s *settings) static() bool { return s.Bootstrap == BootstrapStatic }

func (s *settings) etcd() cloudconfig.EtcdVersion { return cloudconfig.EtcdVersion(s.EtcdVersion) }

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

// abbreviate keeps error messages readable when a value is a long key.
func abbreviate(s string) string {
	if len(s) <= 60 {
		return s
	}
	return s[:40] + "…" + s[len(s)-15:]
}
