// Package components holds the Cluster component: an etcd cluster whose voting
// members live on a small, fixed, odd set of central nodes, while every other
// node is a worker that runs only a local etcd proxy on 127.0.0.1:2379.
package components

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/components/discovery"
)

// ClusterType is the component's type token.
const ClusterType = "isolatedetcd:index:Cluster"

// Cluster is a provisioned isolated-etcd cluster.
type Cluster struct {
	pulumi.ResourceState

	DiscoveryURL pulumi.StringOutput `pulumi:"discoveryUrl"`
	// Flavor and WorkerProxy say what the nodes run, defaults applied.
	Flavor      pulumi.StringOutput `pulumi:"flavor"`
	WorkerProxy pulumi.StringOutput `pulumi:"workerProxy"`
	// EtcdVersion is the etcd release the nodes run (v3.6.16, ...), or
	// etcd2 for the coreos-etcd2 flavor, which runs its image's.
	EtcdVersion pulumi.StringOutput `pulumi:"etcdVersion"`
	// CentralNames name the central nodes, which are also their etcd
	// members' names, in node order.
	CentralNames pulumi.StringArrayOutput `pulumi:"centralNames"`
	// Bootstrap is how the members first found each other: static or
	// discovery. InitialCluster is the members' name=peerURL list, as
	// static bootstrap renders it and as discovery assembles it.
	Bootstrap           pulumi.StringOutput      `pulumi:"bootstrap"`
	InitialCluster      pulumi.StringOutput      `pulumi:"initialCluster"`
	CentralPrivateIPs   pulumi.StringArrayOutput `pulumi:"centralPrivateIps"`
	CentralPublicIPs    pulumi.StringArrayOutput `pulumi:"centralPublicIps"`
	EtcdClientEndpoints pulumi.StringArrayOutput `pulumi:"etcdClientEndpoints"`
	EtcdPeerURLs        pulumi.StringArrayOutput `pulumi:"etcdPeerUrls"`
	// WorkerGroup is the auto scaling group name (AWS) or the worker tag
	// (DigitalOcean).
	WorkerGroup pulumi.StringOutput `pulumi:"workerGroup"`
	// CentralCloudConfig holds each central node's user data, in node order;
	// WorkerCloudConfig the one every worker carries. Both are the exact text
	// attached, secret when they carry a private key (TLS) or the discovery
	// URL is one.
	CentralCloudConfig pulumi.StringArrayOutput `pulumi:"centralCloudConfig"`
	WorkerCloudConfig  pulumi.StringOutput      `pulumi:"workerCloudConfig"`
	// Network holds the cloud's network ids (vpcId, subnetIds, ...).
	Network pulumi.MapOutput `pulumi:"network"`
	// TLS is "mutual" or "off". EtcdCACert is the CA every node trusts
	// (public); EtcdClientCert and EtcdClientKey (a secret) are the
	// operator's client pair, for etcdctl from outside. All three are
	// empty with TLS off.
	TLS            pulumi.StringOutput `pulumi:"tls"`
	EtcdCACert     pulumi.StringOutput `pulumi:"etcdCaCert"`
	EtcdClientCert pulumi.StringOutput `pulumi:"etcdClientCert"`
	EtcdClientKey  pulumi.StringOutput `pulumi:"etcdClientKey"`
	// BackupBucket and BackupPrefix are where central nodes upload their
	// snapshots (prefix/<member>/etcd-<UTC time>.db), BackupListCommand
	// lists them, newest last; all empty with backups off.
	BackupBucket      pulumi.StringOutput `pulumi:"backupBucket"`
	BackupPrefix      pulumi.StringOutput `pulumi:"backupPrefix"`
	BackupListCommand pulumi.StringOutput `pulumi:"backupListCommand"`
	// BackupCopyBucket is the second bucket, in backupCopyRegion, with the
	// same prefix; empty without one.
	BackupCopyBucket pulumi.StringOutput `pulumi:"backupCopyBucket"`
	// BackupRetentionCommand prints the snapshots the retention policy
	// (backupKeep*) lets go, for the operator to delete; empty without one.
	BackupRetentionCommand pulumi.StringOutput `pulumi:"backupRetentionCommand"`
	// BackupRecipient is the age public key every snapshot is encrypted
	// to; BackupIdentity (a secret) decrypts them: keep a copy outside the
	// stack, a restore needs it (config backupIdentity). Both empty with
	// backups off.
	BackupRecipient pulumi.StringOutput `pulumi:"backupRecipient"`
	BackupIdentity  pulumi.StringOutput `pulumi:"backupIdentity"`
}

// NewCluster validates args and, only if every value is allowed, registers
// the cluster's resources. name prefixes every resource and member name.
func NewCluster(ctx *pulumi.Context, name string, args ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	s, err := args.validate(name)
	if err != nil {
		return nil, fmt.Errorf("invalid cluster settings:\n%w", err)
	}
	region, err := s.provider.Region(ctx, s.Region)
	if err != nil {
		return nil, fmt.Errorf("invalid cluster settings:\n%w", err)
	}
	backup := s.cloudBackup(region)
	if backup != nil {
		if err := s.provider.CheckBackup(ctx, *backup); err != nil {
			return nil, fmt.Errorf("invalid cluster settings:\n%w", err)
		}
	}
	central := make([]cloud.CentralNode, len(s.centralNames))
	for i, node := range s.centralNames {
		central[i] = cloud.CentralNode{Name: node, Roll: node == s.RollCentral}
	}
	if !s.static() && !s.SkipDiscoveryCheck {
		if err := checkDiscovery(ctx, s.DiscoveryURL, discovery.Expect{Size: s.CentralCount, Members: s.centralNames}); err != nil {
			return nil, err
		}
	}

	c := &Cluster{}
	registered := &customResources{}
	if err := ctx.RegisterComponentResourceV2(ClusterType, name, s.inputs(region), c, slices.Concat(opts, []pulumi.ResourceOption{registered.option()})...); err != nil {
		return nil, err
	}
	if !s.tls {
		_ = ctx.Log.Warn("tls is off: etcd peers and clients speak plaintext, and anything that reaches the private network can read and rewrite every key", &pulumi.LogArgs{Resource: c})
	}
	pairs, err := s.newPKI(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := s.newBackupKey(ctx, c); err != nil {
		return nil, err
	}
	if !s.backup {
		_ = ctx.Log.Warn("backup is off: nothing keeps a copy of the cluster's keys, and losing a majority of central nodes loses them all", &pulumi.LogArgs{Resource: c})
	}
	if s.RestoreFrom != "" {
		_ = ctx.Log.Warn("restoreFrom is set: central members with a blank data volume restore the snapshot at first boot; once the cluster is back, unset it (pulumi config rm restoreFrom) so that a member replaced later joins the cluster instead of restoring an old one", &pulumi.LogArgs{Resource: c})
	}
	if s.auth && s.EtcdAuth == nil && s.RollCentral != "" {
		// A roll is when a cluster made before etcdAuth first gets it.
		_ = ctx.Log.Warn(fmt.Sprintf("etcdAuth is unset, so on: if this cluster ran without etcd authentication until now, rolling %s turns it on for every member at once, "+
			"and worker clients that do not send the credentials in /etc/ssl/etcd/etcd-user are refused from then on; migrate them first "+
			"(docs/operations.md, Turning etcd authentication on in a running cluster), or set etcdAuth false to keep it off, or true to say it is meant", s.RollCentral), &pulumi.LogArgs{Resource: c})
	}
	if s.CentralCount == 1 {
		_ = ctx.Log.Warn("centralCount: 1 runs a single etcd member: no fault tolerance, and losing that node loses the cluster's data; use 3 or more for anything but a trial", &pulumi.LogArgs{Resource: c})
	}

	var workerUserData pulumi.StringOutput
	var centralUserData []pulumi.StringOutput
	var store *cloud.Store
	spec := cloud.Spec{
		Name:        name,
		Region:      s.Region,
		VpcCidr:     s.VpcCidr,
		OS:          s.os,
		Image:       s.image,
		Ports:       s.ports(),
		CentralSize: s.CentralSize,
		Central:     central,
		CentralUserData: func(hosts []string, st *cloud.Store) ([]pulumi.StringOutput, error) {
			if backup != nil && st == nil {
				return nil, fmt.Errorf("backup: the %s backend gave central nodes no backup store", s.Cloud)
			}
			var err error
			store = st
			centralUserData, err = s.renderCentral(ctx, pairs, hosts, st)
			return centralUserData, err
		},
		Backup:         backup,
		ProtectCentral: s.ProtectCentral,
		DNSZone:        s.DNSZone,
		WorkerCount:    s.WorkerCount,
		WorkerSize:     s.WorkerSize,
		WorkerUserData: func(hosts pulumi.StringArrayOutput) pulumi.StringOutput {
			workerUserData = s.secret(pulumi.All(hosts, s.sshKeys, pairs.worker()).ApplyT(func(v []any) (string, error) {
				hosts, keys, pair := v[0].([]string), v[1].([]string), v[2].([]string)
				return s.workerUserData(s.cloudConfig(keys, pair), hostPorts(hosts, cloudconfig.ClientPort))
			}).(pulumi.StringOutput))
			return workerUserData
		},
		CompactUserData:  s.compactUserData,
		SSHAllowedCidrs:  s.SSHAllowedCidrs,
		MonitoringCidrs:  s.MonitoringCidrs,
		MonitoringGroups: s.MonitoringGroups,
		Tags:             s.Tags,
	}
	res, err := s.provider.Provision(ctx, spec, pulumi.Parent(c))
	if err != nil {
		return nil, fmt.Errorf("cluster %s on %s in %s: %w", name, s.Cloud, region, err)
	}
	if err := newGuard(ctx, name, c, registered.list(), s.ProtectCentral); err != nil {
		return nil, err
	}
	res.CentralSizes.ApplyT(func(sizes []string) error {
		if msg := s.unrolledSizes(sizes); msg != "" {
			_ = ctx.Log.Warn(msg, &pulumi.LogArgs{Resource: c})
		}
		return nil
	})

	c.DiscoveryURL = s.secret(pulumi.String(s.DiscoveryURL).ToStringOutput())
	c.Flavor = pulumi.String(s.Flavor).ToStringOutput()
	c.WorkerProxy = pulumi.String(s.WorkerProxy).ToStringOutput()
	c.EtcdVersion = pulumi.String(cmp.Or(s.etcd().Release(), "etcd2")).ToStringOutput()
	c.CentralNames = pulumi.ToStringArray(s.centralNames).ToStringArrayOutput()
	c.CentralPrivateIPs = res.CentralPrivateIPs
	c.CentralPublicIPs = res.CentralPublicIPs
	c.Bootstrap = pulumi.String(s.Bootstrap).ToStringOutput()
	c.EtcdClientEndpoints = s.urls(res.CentralHosts, cloudconfig.ClientPort)
	c.EtcdPeerURLs = s.urls(res.CentralHosts, cloudconfig.PeerPort)
	c.InitialCluster = c.EtcdPeerURLs.ApplyT(func(peers []string) string {
		var members []string
		for i, u := range peers {
			members = append(members, s.centralNames[i]+"="+u)
		}
		return strings.Join(members, ",")
	}).(pulumi.StringOutput)
	c.WorkerGroup = res.WorkerGroup
	c.CentralCloudConfig = pulumi.ToStringArrayOutput(centralUserData)
	c.WorkerCloudConfig = workerUserData
	c.Network = res.Network.ToMapOutput()
	c.TLS, c.EtcdCACert, c.EtcdClientCert, c.EtcdClientKey = pairs.outputs()
	c.BackupBucket, c.BackupPrefix, c.BackupListCommand = s.backupOutputs(store)
	c.BackupCopyBucket = backupCopyBucket(store)
	c.BackupRetentionCommand = s.backupRetentionCommand(c.BackupListCommand)
	c.BackupRecipient, c.BackupIdentity = s.backupKeyOutputs()
	return c, ctx.RegisterResourceOutputs(c, c.Outputs())
}

// Outputs are the cluster's outputs by name, as the component registers them
// and the program exports them.
func (c *Cluster) Outputs() pulumi.Map {
	return pulumi.Map{
		"discoveryUrl":           c.DiscoveryURL,
		"flavor":                 c.Flavor,
		"workerProxy":            c.WorkerProxy,
		"etcdVersion":            c.EtcdVersion,
		"centralNames":           c.CentralNames,
		"bootstrap":              c.Bootstrap,
		"initialCluster":         c.InitialCluster,
		"centralPrivateIps":      c.CentralPrivateIPs,
		"centralPublicIps":       c.CentralPublicIPs,
		"etcdClientEndpoints":    c.EtcdClientEndpoints,
		"etcdPeerUrls":           c.EtcdPeerURLs,
		"workerGroup":            c.WorkerGroup,
		"centralCloudConfig":     c.CentralCloudConfig,
		"workerCloudConfig":      c.WorkerCloudConfig,
		"network":                c.Network,
		"tls":                    c.TLS,
		"etcdCaCert":             c.EtcdCACert,
		"etcdClientCert":         c.EtcdClientCert,
		"etcdClientKey":          c.EtcdClientKey,
		"backupBucket":           c.BackupBucket,
		"backupPrefix":           c.BackupPrefix,
		"backupListCommand":      c.BackupListCommand,
		"backupCopyBucket":       c.BackupCopyBucket,
		"backupRetentionCommand": c.BackupRetentionCommand,
		"backupRecipient":        c.BackupRecipient,
		"backupIdentity":         c.BackupIdentity,
	}
}

// unrolledSizes says which central nodes, named in node order, still run
// another size than centralSize, and how to move them; "" when none does.
// A resize stops the member, so each waits for its roll.
func (s settings) unrolledSizes(sizes []string) string {
	var old []string
	for i, size := range sizes {
		if size != s.CentralSize {
			old = append(old, fmt.Sprintf("%s (%s)", s.centralNames[i], size))
		}
	}
	if old == nil {
		return ""
	}
	return fmt.Sprintf("centralSize is %s, but %s still run another size: a resize stops the member, so each node waits for its roll; roll them one at a time (pulumi config set rollCentral <node>; pulumi up; check the member is healthy; then the next), as docs/operations.md says",
		s.CentralSize, strings.Join(old, ", "))
}

// discoveryCheckTimeout bounds the pre-flight check so an unreachable service
// fails a preview quickly.
const discoveryCheckTimeout = 15 * time.Second

// checkDiscovery reads the token, never writes it, before anything is
// registered: a reused, stale or wrongly sized token otherwise surfaces only as
// a cluster that never forms, or one that silently runs a voter short.
func checkDiscovery(ctx *pulumi.Context, url string, want discovery.Expect) error {
	c, cancel := context.WithTimeout(ctx.Context(), discoveryCheckTimeout)
	defer cancel()
	if err := discovery.Check(c, nil, url, want); err != nil {
		return fmt.Errorf("discoveryUrl pre-flight check: %w", err)
	}
	return nil
}

// renderCentral renders every central node's user data: with static
// bootstrap from hosts, which the backend knows before the machines exist,
// with TLS with a pair for each member naming its host, and with backups
// uploading to store.
func (s settings) renderCentral(ctx *pulumi.Context, pairs *clusterPKI, hosts []string, store *cloud.Store) ([]pulumi.StringOutput, error) {
	var members []cloudconfig.Member
	if s.static() {
		if len(hosts) != len(s.centralNames) {
			return nil, fmt.Errorf("static bootstrap needs a host for each of the %d central nodes before they exist; the cloud gave %d", len(s.centralNames), len(hosts))
		}
		for i, node := range s.centralNames {
			members = append(members, cloudconfig.Member{Name: node, Host: hosts[i]})
		}
	}
	target := s.resolveBackup(store)
	out := make([]pulumi.StringOutput, len(s.centralNames))
	for i, node := range s.centralNames {
		device := s.provider.DataDevice(node)
		pair, err := pairs.member(ctx, node, hosts, i)
		if err != nil {
			return nil, err
		}
		out[i] = s.secret(pulumi.All(s.sshKeys, pair, target).ApplyT(func(v []any) (string, error) {
			c := s.cloudConfig(v[0].([]string), v[1].([]string))
			c.InitialCluster = members
			t := v[2].(backupTarget)
			c.Backup = s.nodeBackup(store, t)
			if t.restore != "" {
				c.Restore, c.RestoreFromCopy = t.restoreBucket+"/"+t.restore, s.RestoreFromCopy
				c.RestoreIdentity = t.identity
			}
			return s.centralUserData(c, node, device)
		}).(pulumi.StringOutput))
	}
	return out, nil
}

// secret marks o secret when the discovery URL is one, since o carries it.
func (s settings) secret(o pulumi.StringOutput) pulumi.StringOutput {
	if s.DiscoveryURLSecret {
		return pulumi.ToSecret(o).(pulumi.StringOutput)
	}
	return o
}

// inputs are the settings recorded with the component in the stack's state,
// with the region the cluster runs in.
func (s settings) inputs(region string) pulumi.Map {
	return pulumi.Map{
		"cloud":        pulumi.String(s.Cloud),
		"region":       pulumi.String(region),
		"centralCount": pulumi.Int(s.CentralCount),
		"workerCount":  pulumi.Int(s.WorkerCount),
		"flavor":       pulumi.String(s.Flavor),
		"workerProxy":  pulumi.String(s.WorkerProxy),
		"etcdVersion":  pulumi.String(s.EtcdVersion),
		"bootstrap":    pulumi.String(s.Bootstrap),
		"discoveryUrl": s.secret(pulumi.String(s.DiscoveryURL).ToStringOutput()),
	}
}

func hostPorts(ips []string, port int) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = net.JoinHostPort(ip, strconv.Itoa(port))
	}
	return out
}

// urls are the etcd URLs of hosts at port, in the scheme the nodes speak.
func (s settings) urls(hosts pulumi.StringArrayOutput, port int) pulumi.StringArrayOutput {
	scheme := "http://"
	if s.tls {
		scheme = "https://"
	}
	return hosts.ApplyT(func(hosts []string) []string {
		out := hostPorts(hosts, port)
		for i := range out {
			out[i] = scheme + out[i]
		}
		return out
	}).(pulumi.StringArrayOutput)
}
