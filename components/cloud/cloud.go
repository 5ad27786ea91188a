// Package cloud is the contract between the Cluster component and a cloud
// backend. A backend turns rendered user data into machines, a private network
// and firewalls; it never sees etcd flags. A new cloud is one new package that
// implements Provider.
package cloud

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// OS is the family of the node image, which decides the default image and what
// the instance metadata service may require.
type OS string

const (
	// Flatcar is Flatcar Container Linux; its cloud-config agent reads AWS
	// user data under IMDSv2.
	Flatcar OS = "flatcar"
	// ContainerLinux is an operator-supplied CoreOS Container Linux image.
	ContainerLinux OS = "container-linux"
)

// Ports the firewalls open, and to whom.
type Ports struct {
	// Client is etcd's client port: reachable from every cluster node.
	Client int
	// Peer is etcd's peer port: reachable from central nodes only.
	Peer int
	// Metrics is the central nodes' metrics port, WorkerMetrics the
	// workers' (0: they serve none): reachable from every cluster node and
	// from Spec.MonitoringCidrs and Spec.MonitoringGroups.
	Metrics, WorkerMetrics int
}

// Spec is everything a backend needs to provision one cluster.
type Spec struct {
	// Name prefixes every resource and tag of the cluster.
	Name string
	// Region is the stack's region key. Set, the backend pins every resource
	// to it; empty (AWS only), the cloud's default provider decides, as its
	// own config says (aws:region and the rest).
	Region  string
	VpcCidr string
	OS      OS
	// Image is the operator's image, checked by the component (an output
	// fails the run if it resolves to one not allowed); nil means the
	// backend's Flatcar image.
	Image pulumi.StringInput
	Ports Ports

	CentralSize string
	Central     []CentralNode
	// CentralUserData renders each central node's user data, in node order,
	// from the hosts peers and clients will reach the central nodes at, when
	// the backend knows them before the machines exist (fixed addresses, DNS
	// names), nil hosts when it does not, and the backup store, nil without
	// Backup. The backend calls it once.
	CentralUserData func(hosts []string, store *Store) ([]pulumi.StringOutput, error)
	// Backup, set, gives central nodes a bucket to upload snapshots to.
	Backup *Backup
	// ProtectCentral protects from deletion and replacement everything the
	// central nodes, their data, their names and their backups depend on:
	// every resource the backend registers but the workers' machines, what
	// a routine change deletes (an imported image, the stack's own labels),
	// and what a roll replaces (CentralNode.Protect).
	ProtectCentral bool
	// DNSZone, when set, is a domain the operator manages in the cloud: each
	// central node gets a name in it, pointing at its private address, and
	// is reached by that name (DigitalOcean).
	DNSZone string

	WorkerCount int
	WorkerSize  string
	// WorkerUserData renders the user data every worker carries from the
	// hosts the central nodes are reached at; the backend calls it once.
	WorkerUserData func(centralHosts pulumi.StringArrayOutput) pulumi.StringOutput
	// CompactUserData is user data in fewer bytes that the nodes read the
	// same (gzip for coreos-cloudinit; for Ignition, a config that replaces
	// itself with the gzipped original), for a backend whose cloud limits
	// the size of user data to send what is over the limit.
	CompactUserData func(userData string) ([]byte, error)

	// SSHAllowedCidrs may reach port 22 on every node; nothing else from outside
	// the cluster reaches any port.
	SSHAllowedCidrs []string
	// MonitoringCidrs may reach the metrics ports besides the cluster's
	// own nodes.
	MonitoringCidrs []string
	// MonitoringGroups may too: the machines of each, in the cloud's own
	// grouping (AWS security groups, DigitalOcean tags).
	MonitoringGroups []string
	Tags             map[string]string
}

// Backup is where central nodes keep their snapshots.
type Backup struct {
	// Bucket is an existing bucket the operator names; empty, the backend
	// creates one (versioned, private, encrypted, expiring old snapshots).
	Bucket string
	// Prefix is the cluster's folder in the bucket: central nodes may write
	// below it only, and may delete nothing.
	Prefix string
	// Region is the region the cluster runs in, where a created bucket lives.
	Region string
	// RetentionDays is how long a created bucket keeps a snapshot.
	RetentionDays int
	// CopyRegion, set, is another region where the backend creates a
	// second bucket, alike, which central nodes upload every snapshot to
	// as well.
	CopyRegion string
}

// Store is how a central node reaches the backup bucket: an S3 dialect and,
// where the cloud has no machine role, a key scoped to the bucket.
type Store struct {
	Bucket pulumi.StringOutput
	// Provider is the S3 dialect (AWS, DigitalOcean), as S3 clients name it.
	Provider string
	Region   string
	// Endpoint is the S3 endpoint, empty for the dialect's default.
	Endpoint string
	// AccessKeyID and SecretAccessKey are empty where the machine's own
	// role grants access (an AWS instance profile).
	AccessKeyID, SecretAccessKey pulumi.StringOutput
	// Keys lists the keys of the objects below prefix, at deploy time.
	Keys func(prefix string) pulumi.StringArrayOutput
	// Copy is the second bucket, in Backup.CopyRegion, reached with the
	// same credentials; nil without one.
	Copy *Store
}

// CentralNode is one voting member's machine. Its etcd data lives on a volume
// of its own, which outlives the machine, and the machine's image and user
// data are fixed at creation, so no routine change replaces a member.
type CentralNode struct {
	// Name names the machine, its data volume and its etcd member.
	Name string
	// Roll lets this node take the current image and user data, replacing the
	// machine; its data volume, and on AWS its address, carry over.
	Roll bool
}

// MachineOptions are the resource options of the node's machine. rollOnly
// are the machine's inputs whose change replaces, stops or reboots it (its
// image, user data and size, by the cloud's names): unless the node is
// rolled, a change to any of them is ignored, so that no routine change stops
// more than the one member an operator names, and the machine is protected
// when protect is set. A replacement deletes first: the successor takes over
// the data volume, and on AWS the address.
func (n CentralNode) MachineOptions(protect bool, rollOnly ...string) []pulumi.ResourceOption {
	opts := []pulumi.ResourceOption{pulumi.DeleteBeforeReplace(true), n.Protect(protect)}
	if n.Roll {
		return opts
	}
	return append(opts, pulumi.IgnoreChanges(rollOnly))
}

// Protect protects, when protect is set, what a roll of the node replaces
// along with its machine (the machine, AWS's volume attachment): a rolled
// node's are left unprotected, as the engine replaces nothing protected.
func (n CentralNode) Protect(protect bool) pulumi.ResourceOption {
	return pulumi.Protect(protect && !n.Roll)
}

// WorkerName names worker i of the cluster called cluster where a cloud
// gives workers names of their own; tools name a group's workers the same way.
func WorkerName(cluster string, i int) string {
	return fmt.Sprintf("%s-worker-%d", cluster, i)
}

// DataVolumeGiB is the size of each central node's etcd data volume: etcd's
// default backend quota is 2 GiB, plus room for the WAL and snapshots.
const DataVolumeGiB = 10

// Provisioned is what a backend reports back: the cluster it registered.
type Provisioned struct {
	// CentralHosts are what peers and clients dial: the hosts given to
	// CentralUserData, or the private addresses when there were none.
	CentralHosts      pulumi.StringArrayOutput
	CentralPrivateIPs pulumi.StringArrayOutput
	CentralPublicIPs  pulumi.StringArrayOutput
	// CentralSizes are the sizes the central machines run, as the cloud
	// reports them: a node not yet rolled keeps its old size.
	CentralSizes pulumi.StringArrayOutput
	// WorkerGroup names the workers as the cloud groups them: an auto scaling
	// group name on AWS, a tag on DigitalOcean.
	WorkerGroup pulumi.StringOutput
	// Network holds the ids of the network resources, by name (vpcId, subnetIds…).
	Network pulumi.Map
}

// Provider provisions clusters on one cloud.
type Provider interface {
	// CheckRegion and CheckImage reject values this cloud cannot take: the
	// stack's before anything is registered, another resource's output when
	// it resolves. Errors name the stack config key, the value and what is
	// allowed. An empty region is the stack setting none; an empty image is
	// never one.
	CheckRegion(region string) error
	CheckImage(image string) error
	// Region is the region the cluster runs in: region, the stack's key,
	// when set; else the one the cloud's default provider is configured for,
	// asked of the cloud and checked like the stack's. It is called before
	// anything is registered.
	Region(ctx *pulumi.Context, region string) (string, error)
	// DefaultSizes are the machine sizes used when the stack sets none.
	DefaultSizes() (central, worker string)
	// DataDevice is the device path under which the central node called
	// name sees its data volume, so its cloud-config can mount it.
	DataDevice(name string) string
	// KnowsCentralHosts reports whether the backend can give CentralUserData
	// the central nodes' hosts before the machines exist (fixed addresses,
	// or names in zone), which static bootstrap needs, and rejects a zone
	// this cloud cannot use.
	KnowsCentralHosts(zone string) (bool, error)
	// CheckBackup rejects backup settings this cloud cannot take, before
	// anything is registered.
	CheckBackup(ctx *pulumi.Context, b Backup) error
	// CheckMonitoringGroups rejects what cannot name one of this cloud's
	// groups of machines (Spec.MonitoringGroups).
	CheckMonitoringGroups(groups []string) error
	// Provision registers the cluster's resources; opts carry the parent.
	Provision(ctx *pulumi.Context, spec Spec, opts ...pulumi.ResourceOption) (*Provisioned, error)
}
