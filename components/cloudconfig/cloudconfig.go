// Package cloudconfig renders the #cloud-config user data of the two node roles
// of an isolated-etcd cluster: central nodes run voting etcd members, workers run
// only a local etcd proxy on 127.0.0.1:2379.
//
// It is plain Go: it knows etcd and the node OS, and nothing of Pulumi or clouds.
package cloudconfig

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"filippo.io/age"
)

// Flavor is the node OS and how etcd is started on it.
type Flavor string

const (
	// Flatcar runs etcd in a container: etcd-member.service on central
	// nodes, a local proxy on workers.
	Flatcar Flavor = "flatcar"
	// CoreOSEtcd2 is the seed's cloud-config for images that still ship etcd2
	// and fleet.
	CoreOSEtcd2 Flavor = "coreos-etcd2"
)

// Flavors lists every flavor, default first.
var Flavors = []Flavor{Flatcar, CoreOSEtcd2}

// WorkerProxy is what serves etcd on a worker's 127.0.0.1:2379.
type WorkerProxy string

const (
	// Gateway is `etcd gateway`, a TCP forwarder to the central members' client
	// endpoints: v2 and v3 requests both pass.
	Gateway WorkerProxy = "gateway"
	// GRPCProxy is `etcd grpc-proxy`: a v3 gRPC proxy that serves local
	// clients in plaintext and reaches the members over mutual TLS with the
	// worker's client certificate, which a TCP forwarder cannot do.
	GRPCProxy WorkerProxy = "grpc-proxy"
	// V2Proxy is the seed's `proxy: on`: an etcd v2 proxy that finds the members
	// through the discovery URL. Removed in etcd 3.6.
	V2Proxy WorkerProxy = "v2-proxy"
)

// WorkerProxies lists every worker proxy, default first.
var WorkerProxies = []WorkerProxy{Gateway, GRPCProxy, V2Proxy}

// Supports reports whether workers of flavor f can run proxy p. etcd2 has no
// gateway and no gRPC proxy, so coreos-etcd2 workers run only the v2 proxy.
func (f Flavor) Supports(p WorkerProxy) bool {
	return f == Flatcar || p == V2Proxy
}

// DefaultWorkerProxy is the proxy a flavor's workers run unless told otherwise.
func (f Flavor) DefaultWorkerProxy() WorkerProxy {
	if f == CoreOSEtcd2 {
		return V2Proxy
	}
	return Gateway
}

// EtcdVersion is the etcd minor line Flatcar nodes run, central and worker
// alike.
type EtcdVersion string

const (
	// Etcd35 is etcd 3.5, in maintenance: the last line with the v2 API, the
	// v2 proxy and v2 discovery without a deprecation warning.
	Etcd35 EtcdVersion = "3.5"
	// Etcd36 is etcd 3.6: no v2 API and no v2 proxy; v2 discovery deprecated.
	Etcd36 EtcdVersion = "3.6"
	// Etcd37 is etcd 3.7: v2 discovery removed too, so static bootstrap only.
	Etcd37 EtcdVersion = "3.7"
)

// EtcdVersions lists every supported line, oldest first.
var EtcdVersions = []EtcdVersion{Etcd35, Etcd36, Etcd37}

// etcdReleases pins each line to one release, so every node and the
// rehearsal run the same etcd rather than whatever Flatcar ships.
var etcdReleases = map[EtcdVersion]string{
	Etcd35: "v3.5.35",
	Etcd36: "v3.6.16",
	Etcd37: "v3.7.3",
}

// EtcdVersionOf is the line whose pinned release is release, if any.
func EtcdVersionOf(release string) (EtcdVersion, bool) {
	for _, v := range EtcdVersions {
		if v.Release() == release {
			return v, true
		}
	}
	return "", false
}

// Release is the pinned release of line v, such as v3.6.16; "" for a line
// that is not supported.
func (v EtcdVersion) Release() string { return etcdReleases[v] }

// Image is the container image of line v's pinned release.
func (v EtcdVersion) Image() string { return EtcdImageRepo + ":" + v.Release() }

// EtcdImageRepo is where every pinned etcd image comes from.
const EtcdImageRepo = "quay.io/coreos/etcd"

// ServesV2 reports whether line v still has the v2 API (and so the v2
// proxy): etcd 3.6 removed both.
func (v EtcdVersion) ServesV2() bool { return v == Etcd35 }

// corruptionChecks are the settings that turn on line v's data corruption
// checks: a member compares its data with its peers' before it serves, and
// the leader compares its followers' hashes after every compaction. 3.5 has
// them as experimental flags; 3.6 turned them into feature gates (and
// deprecated the flags, which 3.7 removed).
func (v EtcdVersion) corruptionChecks() []string {
	if v == Etcd35 {
		return []string{"ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK=true", "ETCD_EXPERIMENTAL_COMPACT_HASH_CHECK_ENABLED=true"}
	}
	return []string{"ETCD_FEATURE_GATES=InitialCorruptCheck=true,CompactHashCheck=true"}
}

// HasV2Discovery reports whether line v can bootstrap from a discovery URL:
// etcd 3.7 removed v2 discovery.
func (v EtcdVersion) HasV2Discovery() bool { return v != Etcd37 }

// GatewayRetryDelay is how long a worker's gateway avoids a member it could
// not reach. etcd's default, a minute, would leave a gateway with no member
// at all after a roll of every member within that minute.
const GatewayRetryDelay = "5s"

// TLSDir is where a node keeps the CA certificate and its own certificate
// and key. Flatcar's etcd wrapper mounts it (ETCD_SSL_DIR) read-only at
// WrapperSSLDir in the member's container.
const (
	TLSDir        = "/etc/ssl/etcd"
	WrapperSSLDir = "/etc/ssl/certs"
)

// NodeTLS is what a node needs for mutual TLS, PEM: the CA certificates
// every node trusts (two while the CA rotates), and the node's own
// certificate and key (a member's serving and peer pair, or the workers'
// client pair).
type NodeTLS struct{ CACert, Cert, Key string }

// Ports every node uses; the cloud firewalls are written against the same numbers.
const (
	ClientPort = 2379
	PeerPort   = 2380
	// MetricsPort serves /metrics, /health and /readyz in plain HTTP: a
	// member's on its private address and loopback, a grpc-proxy worker's
	// on its private address. It carries no keys (docs/security.md).
	MetricsPort = 2381
)

// Settings are what every node's cloud-config is rendered from.
type Settings struct {
	Flavor      Flavor
	WorkerProxy WorkerProxy
	// EtcdVersion is the etcd line of flatcar nodes; coreos-etcd2 nodes run
	// their image's etcd2.
	EtcdVersion EtcdVersion
	// DiscoveryURL bootstraps the central members, and v2-proxy workers find
	// the members through it. Empty with static bootstrap.
	DiscoveryURL string
	// InitialCluster, when set, bootstraps the members statically instead:
	// every central node with the host its peers and clients dial, a fixed
	// address or a DNS name known before the machines exist.
	InitialCluster []Member
	// ClusterToken names the cluster at static bootstrap, so members of two
	// clusters can never join each other.
	ClusterToken      string
	SSHAuthorizedKeys []string
	// TLS, set, makes every etcd connection between nodes mutual TLS with
	// this node's pair; nil renders plaintext (stack config tls: false).
	TLS *NodeTLS
	// Backup, set, makes every central node snapshot its member on a
	// schedule and upload it; nil renders no backups.
	Backup *Backup
	// Restore, set, is the snapshot (bucket/key in Backup's remote) a blank
	// member restores from at first boot, the same for every member.
	Restore string
	// RestoreFromCopy takes Restore from Backup.Copy's store instead, as
	// when the first store's region is down.
	RestoreFromCopy bool
	// RestoreIdentity is the age identity (AGE-SECRET-KEY-1...) that
	// decrypts Restore; required when Restore is Sealed, on the node only
	// until the member is restored.
	RestoreIdentity string
	// Housekeeping keeps flatcar members' databases bounded; required on
	// flatcar, unused by coreos-etcd2's etcd2.
	Housekeeping Housekeeping
	// Auth, set (with TLS only), turns etcd's authentication on at the
	// members' first boot and gives workers their credentials.
	Auth *Auth
}

// Auth is etcd's authentication with certificates' common names as users.
// The workers' grpc-proxy must present a certificate without one (etcd
// grpc-proxy refuses any other: etcd would take it for a user), so it
// passes its clients' tokens on instead: workers' clients authenticate
// with a password.
type Auth struct {
	// Roots are the users with the root role besides root itself: every
	// member's name and the operator's common name.
	Roots []string
	// Workers is the user and role of the workers' clients, Password its
	// password; the role reads and writes keys under KeyPrefixes ("" is
	// every key) and may do nothing else.
	Workers, Password string
	KeyPrefixes       []string
}

// AuthScript is the script that turns authentication on; AuthCredentials
// is where a worker keeps user:password for its local clients.
const (
	AuthScript      = "/opt/bin/etcd-auth"
	AuthCredentials = TLSDir + "/etcd-user"
)

var (
	authPassword  = regexp.MustCompile(`^[0-9a-f]{32,128}$`)
	authKeyPrefix = regexp.MustCompile(`^[A-Za-z0-9/_.:=@+-]{0,256}$`)
)

func (a *Auth) check() error {
	if !memberName.MatchString(a.Workers) || !authPassword.MatchString(a.Password) || len(a.KeyPrefixes) == 0 || slices.ContainsFunc(a.Roots, func(r string) bool { return !memberName.MatchString(r) }) {
		return fmt.Errorf("auth: users %v and %q want lower-case letters, digits and dashes, the password hex, and at least one key prefix", a.Roots, a.Workers)
	}
	for _, p := range a.KeyPrefixes {
		if !authKeyPrefix.MatchString(p) || (p == "" && len(a.KeyPrefixes) > 1) {
			return fmt.Errorf("auth: key prefix %q: want letters, digits and /_.:=@+- only, and \"\" (every key) alone", p)
		}
	}
	return nil
}

// Housekeeping is how members keep their databases bounded: etcd's
// periodic auto-compaction, and an explicit backend quota that the
// scheduled defragmentation also reads.
type Housekeeping struct {
	// CompactionRetention is the history members keep, a duration etcd's
	// periodic compactor reads, such as 30m.
	CompactionRetention string
	// QuotaBytes is the database size at which a member raises the NOSPACE
	// alarm and the cluster refuses writes.
	QuotaBytes int64
}

// Defrag is how central nodes defragment the cluster: every one has the
// timer, and a lock in etcd makes their runs take turns.
type Defrag struct {
	// Schedule and RandomizedDelay are the timer's OnCalendar and
	// RandomizedDelaySec: the nodes' runs spread over the delay.
	Schedule, RandomizedDelay string
	// FreePercent is how much of a member's file must be free for it to be
	// defragmented: below it the run would move much for little.
	FreePercent int
	// DisarmPercent: NOSPACE is disarmed once every member's file is under
	// this share of the quota, the same share the alert warns at.
	DisarmPercent int
	// Lock is the name of the lock in etcd; LockWaitSeconds how long a run
	// waits for another's to end; Timeout bounds one member's defrag.
	Lock            string
	LockWaitSeconds int
	Timeout         string
}

// ClusterDefrag is the central nodes' defragmentation: daily, each node's
// run within an hour of midnight, so that the first does the work and the
// others find it done.
var ClusterDefrag = Defrag{Schedule: "daily", RandomizedDelay: "1h", FreePercent: 25, DisarmPercent: 80,
	Lock: "isolated-etcd/defrag", LockWaitSeconds: 1800, Timeout: "30m"}

// DefragScript is the script the defragmentation unit runs.
const DefragScript = "/opt/bin/etcd-defrag"

// Backup is where and how often central nodes upload snapshots: each
// member under its own name, so that no member waits for another.
type Backup struct {
	// Schedule is when, as systemd's OnCalendar has it: hourly, daily, ...
	Schedule string
	Store    ObjectStore
	// Path is bucket/prefix; a member's snapshots go to Path/<member>/.
	Path string
	// Recipient is the age public key (age1...) every snapshot is
	// encrypted to before it leaves the node; its identity is never on a
	// node but for a restore.
	Recipient string
	// Copy, set, is a second store, in another region: the same unit
	// uploads every snapshot there too.
	Copy *BackupCopy
	// RevisionThreshold, more than 0, starts the backup unit between its
	// scheduled runs when etcd's revision has moved more than this since
	// the last snapshot, checked every RevisionCheck.
	RevisionThreshold int
}

// RevisionCheck is how often a central node compares its member's revision
// with the last snapshot's, when Backup.RevisionThreshold is set, and the
// script that does.
var RevisionCheck = struct{ Schedule, Script, Recorded string }{
	Schedule: "*:0/5", Script: "/opt/bin/etcd-backup-moved", Recorded: "/var/lib/etcd-backup/revision"}

// BackupCopy is the second store snapshots go to, as Backup's: Path is
// bucket/prefix.
type BackupCopy struct {
	Path  string
	Store ObjectStore
}

// SealedSuffix ends the name of a snapshot that left its node compressed
// (gzip) and encrypted (age): etcd-<UTC time>.db.gz.age.
const SealedSuffix = ".db.gz.age"

// Sealed reports whether the snapshot key names a compressed, encrypted
// snapshot; the others are plain etcd-<UTC time>.db, as nodes uploaded
// before encryption.
func Sealed(key string) bool { return strings.HasSuffix(key, SealedSuffix) }

// Age is the age CLI on a node: built at its first use by `go install` of
// the pinned module version in the pinned Go image, which checks the
// module against Go's checksum database; static (no cgo), so it runs on
// the host.
var Age = struct{ Image, Package, Version, Bin, GoBin string }{
	Image: "golang:1.26.8-alpine", Package: "filippo.io/age/cmd/age", Version: "v1.3.1", Bin: "/opt/bin/age", GoBin: "/opt/bin"}

// RestoreIdentityFile holds RestoreIdentity on a restoring node, until
// the restore succeeds.
const RestoreIdentityFile = "/etc/etcd-restore.identity"

// Join is how a blank member rejoins its running cluster by itself: the
// script its unit runs before the member starts, the environment file it
// leaves the member (state existing, the membership member add returned),
// and the promotion, the same script run once the member does; each step
// retries every so many seconds, saying why, until it can act.
var Join = struct {
	Script, Env, Promote         string
	RetrySeconds, PromoteSeconds int
}{Script: "/opt/bin/etcd-join", Env: "/etc/etcd-join.env", Promote: "/opt/bin/etcd-promote", RetrySeconds: 15, PromoteSeconds: 2}

// Leave is how a member leaves its cluster before its machine is deleted:
// the script the operator starts Unit to run on it, and the mark it leaves,
// with which the join unit keeps the member from starting again.
var Leave = struct{ Script, Unit, Mark string }{Script: "/opt/bin/etcd-leave", Unit: "etcd-leave.service", Mark: "/etc/etcd-left"}

// MetricsDir is where central nodes write their backups' metrics, in
// Prometheus's text format, for node_exporter's textfile collector
// (--collector.textfile.directory).
const MetricsDir = "/var/lib/node_exporter/textfile_collector"

// ObjectStore is an S3-compatible store as the uploader reaches it.
type ObjectStore struct {
	// Provider is the S3 dialect: AWS, DigitalOcean, Other.
	Provider, Region string
	// Endpoint is empty for the dialect's default.
	Endpoint string
	// AccessKeyID and SecretAccessKey are empty where the machine's role
	// grants access (AWS instance profiles).
	AccessKeyID, SecretAccessKey string
}

// RcloneImage is the uploader every central node runs, pinned: the image
// rclone's maintainers publish.
const RcloneImage = "rclone/rclone:1.73.0"

// Member is a central node and the host peers and clients reach it at.
type Member struct{ Name, Host string }

// The metadata firewall every node installs before anything else: only
// root on the node itself reaches the cloud's metadata service, which serves
// the node's user data (its etcd keys, a Spaces key) and, on AWS, its
// instance role's credentials. Other users are refused, and so is every
// container routed through the node, root inside or not.
const (
	// MetadataFirewallUnit applies it: a oneshot unit that docker,
	// containerd and every unit that runs a container require and follow.
	MetadataFirewallUnit = "metadata-firewall.service"
	// MetadataFirewallDropIn is the drop-in that makes a unit of the OS
	// (docker, etcd-member) require the firewall and start after it.
	MetadataFirewallDropIn = "10-metadata-firewall.conf"
	// MetadataFirewallRules is the nftables ruleset a flatcar node loads.
	MetadataFirewallRules = "/etc/metadata-firewall.nft"
)

// MetadataAddrs are where the clouds serve instance metadata: AWS and
// DigitalOcean at 169.254.169.254, AWS also at fd00:ec2::254 (Nitro
// instances with the IPv6 endpoint on). AWS's time service (.123) and DNS
// resolver (.253) on the same link stay open to everyone.
var MetadataAddrs = []string{"169.254.169.254", "fd00:ec2::254"}

// ContainerRuntimes are the units of the OS that start containers for
// anyone who asks: they wait for the metadata firewall.
var ContainerRuntimes = []string{"docker.service", "containerd.service"}

// metadataFirewall is what the templates render the firewall from.
type metadataFirewall struct {
	Unit, DropIn, Rules string
	Addrs, Runtimes     []string
}

//go:embed templates/*.yaml.tmpl
var templateFiles embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"quote":    quote,
	"join":     strings.Join,
	"indent":   indent,
	"contains": strings.Contains,
}).ParseFS(templateFiles, "templates/*.yaml.tmpl"))

// quote renders s as a YAML double-quoted scalar (JSON strings are valid YAML).
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// indent prefixes every line of s with n spaces, for a YAML block scalar.
func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	var b strings.Builder
	for line := range strings.Lines(strings.TrimRight(s, "\n") + "\n") {
		b.WriteString(pad + line)
	}
	return strings.TrimRight(b.String(), "\n")
}

var memberName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// unsafeInUnit are characters that would break out of a systemd Environment=
// line or a YAML block scalar.
const unsafeInUnit = "\"\\'\n\r\t $%`"

// DataDir is where a flavor's etcd keeps its data: the central node's data
// volume is mounted there.
func (f Flavor) DataDir() string {
	if f == CoreOSEtcd2 {
		return "/var/lib/etcd2"
	}
	return "/var/lib/etcd"
}

var (
	backupSchedule = regexp.MustCompile(`^[A-Za-z0-9*:/ ,.-]+$`)
	backupPath     = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*(/[A-Za-z0-9._-]+)*$`)
	storeWord      = regexp.MustCompile(`^[A-Za-z0-9-]+$`)
	storeEndpoint  = regexp.MustCompile(`^https?://[A-Za-z0-9.-]+(:[0-9]+)?$`)
)

var devicePath = regexp.MustCompile(`^/dev/[A-Za-z0-9/._:-]+$`)

// hostName is an IPv4 address or a DNS name.
var hostName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)

// Central renders the cloud-config of the central node whose etcd member is
// called name and whose data volume appears as dataDevice.
func (c Settings) Central(name, dataDevice string) (string, error) {
	if !memberName.MatchString(name) {
		return "", fmt.Errorf("central node name %q: want lower-case letters, digits and dashes", name)
	}
	if !devicePath.MatchString(dataDevice) {
		return "", fmt.Errorf("central node %s: data device %q is not a /dev path", name, dataDevice)
	}
	if err := c.check(); err != nil {
		return "", err
	}
	switch {
	case c.InitialCluster == nil && c.DiscoveryURL == "":
		return "", fmt.Errorf("central node %s: neither a discovery URL nor an initial cluster to bootstrap from", name)
	case c.InitialCluster == nil && c.Flavor == Flatcar && !c.EtcdVersion.HasV2Discovery():
		return "", fmt.Errorf("etcd %s has no v2 discovery: bootstrap it statically", c.EtcdVersion)
	}
	host := ""
	if c.InitialCluster != nil {
		i := slices.IndexFunc(c.InitialCluster, func(m Member) bool { return m.Name == name })
		if i < 0 {
			return "", fmt.Errorf("central node %s is not in the initial cluster", name)
		}
		host = c.InitialCluster[i].Host
	}
	dir := c.Flavor.DataDir()
	return c.render(fmt.Sprintf("%s-central.yaml.tmpl", c.Flavor), map[string]any{
		"Name":       name,
		"Host":       host,
		"DataDevice": dataDevice,
		"DataDir":    dir,
		// systemd requires a mount unit to be named after its path.
		"DataMount": strings.ReplaceAll(strings.TrimPrefix(dir, "/"), "/", "-") + ".mount",
		// The wrapper runs the member as the etcd user.
		"TLSName":     "member",
		"TLSKeyOwner": "etcd:etcd",
	})
}

// Worker renders the cloud-config every worker carries. centralEndpoints are
// the members' client endpoints (host:port); the gateway forwards to them.
func (c Settings) Worker(centralEndpoints []string) (string, error) {
	if err := c.check(); err != nil {
		return "", err
	}
	if c.WorkerProxy == V2Proxy && c.DiscoveryURL == "" {
		return "", fmt.Errorf("worker v2 proxy: no discovery URL to find the members through")
	}
	if c.WorkerProxy != V2Proxy {
		if len(centralEndpoints) == 0 {
			return "", fmt.Errorf("worker %s: no central endpoints to forward to", c.WorkerProxy)
		}
		for _, e := range centralEndpoints {
			if e == "" || strings.ContainsAny(e, unsafeInUnit+",") {
				return "", fmt.Errorf("worker %s: central endpoint %q is not host:port", c.WorkerProxy, e)
			}
		}
	}
	return c.render(fmt.Sprintf("%s-worker-%s.yaml.tmpl", c.Flavor, c.WorkerProxy), map[string]any{
		"Endpoints":   centralEndpoints,
		"TLSName":     "client",
		"TLSKeyOwner": "root",
	})
}

func (c Settings) check() error {
	switch c.Flavor {
	case Flatcar, CoreOSEtcd2:
	default:
		return fmt.Errorf("unknown flavor %q", c.Flavor)
	}
	if !c.Flavor.Supports(c.WorkerProxy) {
		return fmt.Errorf("flavor %s cannot run worker proxy %q", c.Flavor, c.WorkerProxy)
	}
	if c.Flavor == Flatcar {
		h := c.Housekeeping
		if d, err := time.ParseDuration(h.CompactionRetention); err != nil || d <= 0 || strings.ContainsAny(h.CompactionRetention, unsafeInUnit) || h.QuotaBytes <= 0 {
			return fmt.Errorf("housekeeping: compaction retention %q, quota %d bytes: want a positive duration such as 30m and a positive quota", h.CompactionRetention, h.QuotaBytes)
		}
		if c.EtcdVersion.Release() == "" {
			return fmt.Errorf("etcd version %q is not one of %v", c.EtcdVersion, EtcdVersions)
		}
		if c.WorkerProxy == V2Proxy && !c.EtcdVersion.ServesV2() {
			return fmt.Errorf("etcd %s has no v2 proxy", c.EtcdVersion)
		}
	}
	switch {
	case strings.ContainsAny(c.DiscoveryURL, unsafeInUnit):
		return fmt.Errorf("discovery URL %q holds characters a unit file cannot carry", c.DiscoveryURL)
	case c.InitialCluster != nil && c.DiscoveryURL != "":
		return fmt.Errorf("both a discovery URL and an initial cluster: a cluster bootstraps one way")
	case c.InitialCluster != nil && (c.Flavor != Flatcar || c.WorkerProxy == V2Proxy):
		return fmt.Errorf("static bootstrap is rendered for flatcar nodes with gateway workers")
	}
	for _, m := range c.InitialCluster {
		if !memberName.MatchString(m.Name) || !hostName.MatchString(m.Host) || !memberName.MatchString(c.ClusterToken) {
			return fmt.Errorf("initial cluster member %s at %q (token %q): want names and hosts of letters, digits, dots and dashes", m.Name, m.Host, c.ClusterToken)
		}
	}
	switch {
	case c.Flavor != Flatcar && c.Housekeeping != (Housekeeping{}):
		return fmt.Errorf("housekeeping is rendered for flatcar nodes only: etcd2 has no v3 compaction or quota to set")
	case c.TLS != nil && c.Flavor != Flatcar:
		return fmt.Errorf("TLS is rendered for flatcar nodes only")
	case c.Auth != nil && c.TLS == nil:
		return fmt.Errorf("auth is rendered with TLS only: its users are certificates' common names")
	case c.Auth != nil && c.Auth.check() != nil:
		return c.Auth.check()
	case c.TLS != nil && c.WorkerProxy != GRPCProxy:
		return fmt.Errorf("TLS needs workers that authenticate to the members (%s), not %s", GRPCProxy, c.WorkerProxy)
	case c.TLS == nil && c.WorkerProxy == GRPCProxy:
		return fmt.Errorf("worker proxy %s is rendered with TLS only; without it, use %s", GRPCProxy, Gateway)
	case c.TLS != nil && (!isPEMs(c.TLS.CACert, "CERTIFICATE") || !isPEM(c.TLS.Cert, "CERTIFICATE") || !isPEM(c.TLS.Key, "PRIVATE KEY")):
		return fmt.Errorf("TLS: the CA certificates must be PEM certificates, the certificate and key one PEM block each")
	}
	if c.Restore != "" && (c.Backup == nil || c.InitialCluster == nil) {
		return fmt.Errorf("restore snapshot %q: a restore needs the backup remote and static bootstrap's initial cluster", c.Restore)
	}
	if b := c.Backup; b != nil {
		switch {
		case c.Flavor != Flatcar:
			return fmt.Errorf("backups are rendered for flatcar nodes only")
		case !backupSchedule.MatchString(b.Schedule):
			return fmt.Errorf("backup schedule %q: want a systemd calendar word (hourly, daily, ...) or an OnCalendar expression of letters, digits, *, :, -, / and spaces", b.Schedule)
		case !backupPath.MatchString(b.Path):
			return fmt.Errorf("backup path %q: want bucket/prefix of letters, digits, dots, dashes and slashes", b.Path)
		}
		if c.Restore != "" && !backupPath.MatchString(c.Restore) {
			return fmt.Errorf("restore snapshot %q: want bucket/key of letters, digits, dots, dashes and slashes", c.Restore)
		}
		if _, err := age.ParseX25519Recipient(b.Recipient); err != nil {
			return fmt.Errorf("backup recipient %q: want an age X25519 recipient (age1...): %w", b.Recipient, err)
		}
		if Sealed(c.Restore) {
			if _, err := age.ParseX25519Identity(c.RestoreIdentity); err != nil {
				return fmt.Errorf("restore snapshot %q is encrypted: want the age identity (AGE-SECRET-KEY-1...) that decrypts it: %w", c.Restore, err)
			}
		}
		if err := b.Store.validate(); err != nil {
			return err
		}
		if b.Copy != nil {
			if !backupPath.MatchString(b.Copy.Path) {
				return fmt.Errorf("backup copy path %q: want bucket/prefix of letters, digits, dots, dashes and slashes", b.Copy.Path)
			}
			if err := b.Copy.Store.validate(); err != nil {
				return fmt.Errorf("backup copy: %w", err)
			}
		}
	}
	if c.Backup != nil && c.Backup.RevisionThreshold < 0 {
		return fmt.Errorf("backup revision threshold %d: want 0 (none) or more", c.Backup.RevisionThreshold)
	}
	if c.RestoreFromCopy && (c.Backup == nil || c.Backup.Copy == nil) {
		return fmt.Errorf("restore snapshot %q from the copy: there is no backup copy", c.Restore)
	}
	for _, k := range c.SSHAuthorizedKeys {
		if strings.ContainsAny(k, "\n\r") {
			return fmt.Errorf("SSH key %q spans lines", k)
		}
	}
	return nil
}

// validate checks what goes into the uploader's environment.
func (st ObjectStore) validate() error {
	switch {
	case !storeWord.MatchString(st.Provider) || st.Region != "" && !storeWord.MatchString(st.Region):
		return fmt.Errorf("backup store provider %q, region %q: want words of letters, digits and dashes", st.Provider, st.Region)
	case st.Endpoint != "" && !storeEndpoint.MatchString(st.Endpoint):
		return fmt.Errorf("backup store endpoint %q: want an http or https URL of a host and port", st.Endpoint)
	case (st.AccessKeyID == "") != (st.SecretAccessKey == "") || strings.ContainsAny(st.AccessKeyID+st.SecretAccessKey, "\n\r"):
		return fmt.Errorf("backup store key: want both an access key id and a secret of one line each, or neither")
	}
	return nil
}

// Remotes are the names of the rclone remotes a central node's env file
// defines: the backup store, and its copy.
const RemoteBackup, RemoteCopy = "backup", "copy"

// env is the uploader's settings for the stores, as rclone reads S3
// remotes called backup and copy from its environment.
func (b *Backup) env() []string {
	if b == nil {
		return nil
	}
	out := b.Store.env(RemoteBackup)
	if b.Copy != nil {
		out = append(out, b.Copy.Store.env(RemoteCopy)...)
	}
	return out
}

// RemoteEnv is st as the rclone remote called name, for a tool off the
// nodes that reads the store as they write it.
func (st ObjectStore) RemoteEnv(name string) []string { return st.env(name) }

// env is st as the rclone remote called name.
func (st ObjectStore) env(name string) []string {
	p := "RCLONE_CONFIG_" + strings.ToUpper(name) + "_"
	// acl empty: rclone sends no x-amz-acl header (its default since
	// v1.61.0, pinned here against a change of default), so the upload needs
	// s3:PutObject only, never s3:PutObjectAcl, which the nodes' policy
	// does not grant.
	out := []string{p + "TYPE=s3", p + "PROVIDER=" + st.Provider, p + "ACL="}
	if st.Region != "" {
		out = append(out, p+"REGION="+st.Region)
	}
	if st.Endpoint != "" {
		out = append(out, p+"ENDPOINT="+st.Endpoint)
	}
	if st.AccessKeyID == "" {
		return append(out, p+"ENV_AUTH=true")
	}
	return append(out, p+"ACCESS_KEY_ID="+st.AccessKeyID, p+"SECRET_ACCESS_KEY="+st.SecretAccessKey)
}

// uploadTo are the rclone paths every snapshot is uploaded to, in order.
func (b *Backup) uploadTo() []string {
	if b == nil {
		return nil
	}
	out := []string{RemoteBackup + ":" + b.Path}
	if b.Copy != nil {
		out = append(out, RemoteCopy+":"+b.Copy.Path)
	}
	return out
}

// restoreToken is the cluster token of a cluster restored from Restore: a
// new one, so that a survivor of the old cluster, or of an earlier restore
// from another snapshot, is never taken for a member of this one.
func (c Settings) restoreToken() string {
	at, _, _ := strings.Cut(strings.TrimPrefix(path.Base(c.Restore), "etcd-"), ".")
	return c.ClusterToken + "-restored-" + at
}

// isPEM reports whether s is exactly one PEM block whose type ends in kind.
func isPEM(s, kind string) bool {
	b, rest := pem.Decode([]byte(s))
	return b != nil && strings.HasSuffix(b.Type, kind) && strings.TrimSpace(string(rest)) == ""
}

// isPEMs reports whether s is one or more PEM blocks whose types end in kind.
func isPEMs(s, kind string) bool {
	rest := []byte(s)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return n > 0 && strings.TrimSpace(string(rest)) == ""
		}
		if !strings.HasSuffix(b.Type, kind) {
			return false
		}
		n++
	}
}

// gzipTemplate is the named template rendered, gzipped and base64-encoded,
// as write_files' gzip+base64 encoding has it.
func gzipTemplate(name string, data map[string]any) (string, error) {
	var b bytes.Buffer
	z := gzip.NewWriter(base64.NewEncoder(base64.StdEncoding, &b))
	if err := templates.ExecuteTemplate(z, name, data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	// Closing the gzip writer leaves the base64 encoder's last bytes.
	if err := z.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Scheme is the scheme of every etcd URL between nodes.
func (c Settings) Scheme() string {
	if c.TLS != nil {
		return "https"
	}
	return "http"
}

// initialCluster is ETCD_INITIAL_CLUSTER: name=http://host:peerPort, ...
func (c Settings) initialCluster() string {
	var parts []string
	for _, m := range c.InitialCluster {
		parts = append(parts, fmt.Sprintf("%s=%s://%s", m.Name, c.Scheme(), net.JoinHostPort(m.Host, strconv.Itoa(PeerPort))))
	}
	return strings.Join(parts, ",")
}

func (c Settings) render(name string, data map[string]any) (string, error) {
	data["DiscoveryURL"] = c.DiscoveryURL
	data["InitialCluster"] = c.initialCluster()
	data["ClusterToken"] = c.ClusterToken
	data["SSHAuthorizedKeys"] = c.SSHAuthorizedKeys
	data["EtcdImage"] = c.EtcdVersion.Image()
	data["ServesV2"] = c.EtcdVersion.ServesV2()
	data["ClientPort"] = ClientPort
	data["GatewayRetryDelay"] = GatewayRetryDelay
	data["PeerPort"] = PeerPort
	data["MetricsPort"] = MetricsPort
	data["Housekeeping"] = c.Housekeeping
	data["CorruptionChecks"] = c.EtcdVersion.corruptionChecks()
	data["Defrag"] = ClusterDefrag
	data["Scheme"] = c.Scheme()
	data["TLS"] = c.TLS
	data["Auth"] = c.Auth
	data["AuthCredentials"] = AuthCredentials
	data["TLSDir"] = TLSDir
	data["WrapperSSLDir"] = WrapperSSLDir
	data["Member"] = memberUnit()
	data["Backup"] = c.Backup
	data["RcloneImage"] = RcloneImage
	data["BackupRemote"] = c.Backup.env()
	data["UploadTo"] = c.Backup.uploadTo()
	data["Restore"] = c.Restore
	data["RestoreRemote"] = RemoteBackup
	if c.RestoreFromCopy {
		data["RestoreRemote"] = RemoteCopy
	}
	data["RestoreToken"] = c.restoreToken()
	data["RestoreSealed"] = Sealed(c.Restore)
	data["RestoreIdentity"] = c.RestoreIdentity
	data["RestoreIdentityFile"] = RestoreIdentityFile
	data["SealedSuffix"] = SealedSuffix
	data["Age"] = Age
	data["Flavor"] = c.Flavor
	data["Firewall"] = metadataFirewall{Unit: MetadataFirewallUnit, DropIn: MetadataFirewallDropIn, Rules: MetadataFirewallRules,
		Addrs: MetadataAddrs, Runtimes: ContainerRuntimes}
	if _, central := data["DataDir"]; central && c.Flavor == Flatcar {
		script, err := gzipTemplate("defrag-script", data)
		if err != nil {
			return "", err
		}
		data["DefragScript"] = map[string]string{"Path": DefragScript, "Content": script}
		// A restored member keeps the snapshot's users, roles and whether
		// authentication is on, as a restore should.
		if c.Auth != nil && c.Restore == "" {
			if script, err = gzipTemplate("auth-script", data); err != nil {
				return "", err
			}
			data["AuthScript"] = map[string]string{"Path": AuthScript, "Content": script}
		}
		// Static bootstrap with TLS: the member's certificate is root
		// under etcd's auth, and its peers are known to the rendering.
		if c.InitialCluster != nil && c.TLS != nil {
			if err := c.renderJoin(data); err != nil {
				return "", err
			}
		}
		if c.Backup != nil {
			data["Metrics"] = map[string]string{"Dir": MetricsDir,
				"Labels": fmt.Sprintf(`{cluster=%q,member=%q}`, path.Base(c.Backup.Path), data["Name"])}
			data["RevisionCheck"] = RevisionCheck
			if data["BackupScript"], err = gzipTemplate("backup-script", data); err != nil {
				return "", err
			}
			if c.Backup.RevisionThreshold > 0 {
				if data["BackupMovedScript"], err = gzipTemplate("backup-moved-script", data); err != nil {
					return "", err
				}
			}
		}
		if c.Restore != "" {
			if data["RestoreScript"], err = gzipTemplate("restore-script", data); err != nil {
				return "", err
			}
		}
	}
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return b.String(), nil
}

// renderJoin adds the join, promotion and leave scripts of the central node
// data names: its peers are every other member's client URL.
func (c Settings) renderJoin(data map[string]any) error {
	var peers []string
	for _, m := range c.InitialCluster {
		if m.Name != data["Name"] {
			peers = append(peers, fmt.Sprintf("%s://%s", c.Scheme(), net.JoinHostPort(m.Host, strconv.Itoa(ClientPort))))
		}
	}
	join := map[string]any{"Script": Join.Script, "Env": Join.Env, "Promote": Join.Promote,
		"RetrySeconds": Join.RetrySeconds, "PromoteSeconds": Join.PromoteSeconds, "Peers": peers}
	data["Join"] = join
	leave := map[string]any{"Script": Leave.Script, "Unit": Leave.Unit, "Mark": Leave.Mark}
	data["Leave"] = leave
	var err error
	if join["Content"], err = gzipTemplate("join-script", data); err != nil {
		return err
	}
	leave["Content"], err = gzipTemplate("leave-script", data)
	return err
}
