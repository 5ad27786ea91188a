// Package plan is the cluster a stack would provision, node by node: read
// from the stack's config and from what the Cluster component exports.
package plan

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	"gopkg.in/yaml.v3"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/fakecloud"
	"github.com/isolatedetcd/cluster/internal/stackconfig"
)

// Overrides replace the stack's values; nil or empty leaves a value as the
// stack has it.
type Overrides struct {
	Central     *int
	Workers     *int
	Cloud       string
	Region      string
	DNSZone     string
	Flavor      string
	WorkerProxy string
	EtcdVersion string
	Bootstrap   string
	Image       string
	// ConfigFormat is the nodes' user data: cloud-config or ignition.
	ConfigFormat string
	// Plaintext turns TLS off, acknowledged, as a cluster made before TLS
	// runs.
	Plaintext bool
}

// ConfigError is a stack or flag value the program itself rejects; its
// message is the program's.
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return e.Err.Error() }
func (e ConfigError) Unwrap() error { return e.Err }

// StackArgs reads Pulumi.<stack>.yaml in dir the way the program reads its
// config, then applies o.
func StackArgs(dir, stack string, o Overrides) (components.ClusterArgs, error) {
	project, err := projectName(dir)
	if err != nil {
		return components.ClusterArgs{}, err
	}
	values, err := stackconfig.Load(filepath.Join(dir, "Pulumi."+stack+".yaml"))
	if err != nil {
		return components.ClusterArgs{}, ConfigError{err}
	}
	args, err := stackconfig.ClusterArgs(stack,
		func(k string) (string, bool) { v, ok := values[project+":"+k]; return v, ok },
		func(string) bool { return false }, // stackconfig.Load refuses encrypted values
	)
	if err != nil {
		return args, ConfigError{err}
	}
	if o.Central != nil {
		args.CentralCount = *o.Central
	}
	if o.Workers != nil {
		args.WorkerCount = *o.Workers
	}
	for _, kv := range []struct {
		dst *string
		v   string
	}{{&args.Cloud, o.Cloud}, {&args.Region, o.Region}, {&args.DNSZone, o.DNSZone},
		{&args.Flavor, o.Flavor}, {&args.WorkerProxy, o.WorkerProxy}, {&args.EtcdVersion, o.EtcdVersion}, {&args.Bootstrap, o.Bootstrap},
		{&args.ConfigFormat, o.ConfigFormat}} {
		if kv.v != "" {
			*kv.dst = kv.v
		}
	}
	if o.Image != "" {
		args.Image = pulumi.String(o.Image)
	}
	if o.Plaintext {
		off := false
		args.TLS, args.PlaintextAcknowledged = &off, true
	}
	return args, nil
}

func projectName(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "Pulumi.yaml"))
	if err != nil {
		return "", err
	}
	var p struct {
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal(b, &p); err != nil || p.Name == "" {
		return "", fmt.Errorf("%s: no project name (%v)", filepath.Join(dir, "Pulumi.yaml"), err)
	}
	return p.Name, nil
}

// Role is what a node is for.
type Role string

const (
	Central Role = "central"
	Worker  Role = "worker"
)

// Node is one machine as the program provisions it.
type Node struct {
	Name string
	Role Role
	// CloudIP is the private address the cloud gave a central node, and
	// Host what peers and workers dial it at: the same address, or a name.
	CloudIP, Host string
	UserData      string
}

// Plan is every node of one cluster with the user data the program attaches.
type Plan struct {
	Cluster     string
	Flavor      cloudconfig.Flavor
	WorkerProxy cloudconfig.WorkerProxy
	// Bootstrap is static or discovery.
	Bootstrap string
	Central   []Node
	Workers   []Node
	// TLS is set when the nodes speak mutual TLS: the CA certificate and
	// the operator's client pair the program exports, PEM.
	TLS *TLS
	// BackupBucket and BackupPrefix are where central nodes upload
	// snapshots, BackupIdentity decrypts them; all empty with backups off.
	BackupBucket, BackupPrefix, BackupIdentity string
	// BackupCopyBucket is the second bucket, "" without one.
	BackupCopyBucket string
}

// TLS is what an operator reaches a TLS cluster's members with.
type TLS struct{ CACert, ClientCert, ClientKey string }

// ClientConfig is a TLS client configuration that trusts the cluster's CA
// and presents the operator's certificate.
func (t *TLS) ClientConfig() (*tls.Config, error) {
	pair, err := tls.X509KeyPair([]byte(t.ClientCert), []byte(t.ClientKey))
	if err != nil {
		return nil, fmt.Errorf("operator client pair: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(t.CACert)) {
		return nil, fmt.Errorf("etcdCaCert holds no certificate")
	}
	return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// Read runs components.NewCluster with args under the SDK's mock engine,
// answered by the fake cloud, and reads the cluster from the component's
// outputs: the program's own rendering, never a second one, whatever cloud
// provisions it. Errors from NewCluster are ConfigErrors.
func Read(cluster string, args components.ClusterArgs) (*Plan, error) {
	return ReadIn(cluster, args, nil)
}

// ReadIn is Read in a fake cloud whose buckets hold objects (bucket: keys),
// which the program lists to pick a snapshot to restore.
func ReadIn(cluster string, args components.ClusterArgs, objects map[string][]string) (*Plan, error) {
	fake := fakecloud.New()
	fake.Objects = objects
	var out struct {
		names, ips, peers, central []string
		worker                     string
		flavor, proxy, bootstrap   string
		tls, ca, cert, key         string
		bucket, prefix, identity   string
		copyBucket                 string
	}
	var cfgErr error
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		c, err := components.NewCluster(ctx, cluster, args)
		if err != nil {
			cfgErr = err
			return err
		}
		for _, o := range []struct {
			v   pulumi.Output
			dst any
		}{
			{c.CentralNames, &out.names}, {c.CentralPrivateIPs, &out.ips}, {c.EtcdPeerURLs, &out.peers}, {c.CentralCloudConfig, &out.central},
			{c.WorkerCloudConfig, &out.worker}, {c.Flavor, &out.flavor}, {c.WorkerProxy, &out.proxy}, {c.Bootstrap, &out.bootstrap},
			{c.TLS, &out.tls}, {c.EtcdCACert, &out.ca}, {c.EtcdClientCert, &out.cert}, {c.EtcdClientKey, &out.key},
			{c.BackupBucket, &out.bucket}, {c.BackupPrefix, &out.prefix}, {c.BackupIdentity, &out.identity}, {c.BackupCopyBucket, &out.copyBucket},
		} {
			r, err := internals.UnsafeAwaitOutput(ctx.Context(), o.v)
			if err != nil {
				return err
			}
			reflect.ValueOf(o.dst).Elem().Set(reflect.ValueOf(r.Value))
		}
		return nil
	}, pulumi.WithMocks("plan", "plan", fakecloud.Mocks{Cloud: fake}), fakecloud.ProviderConfig())
	if cfgErr != nil {
		return nil, ConfigError{cfgErr}
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s under the mock engine: %w", cluster, err)
	}
	if len(out.ips) != len(out.names) || len(out.peers) != len(out.names) || len(out.central) != len(out.names) {
		return nil, fmt.Errorf("cluster %s: %d central names, %d addresses, %d peer URLs, %d cloud-configs", cluster, len(out.names), len(out.ips), len(out.peers), len(out.central))
	}
	p := &Plan{Cluster: cluster, Flavor: cloudconfig.Flavor(out.flavor), WorkerProxy: cloudconfig.WorkerProxy(out.proxy), Bootstrap: out.bootstrap,
		BackupBucket: out.bucket, BackupPrefix: out.prefix, BackupIdentity: out.identity, BackupCopyBucket: out.copyBucket}
	if out.tls == components.TLSMutual {
		p.TLS = &TLS{CACert: out.ca, ClientCert: out.cert, ClientKey: out.key}
	}
	for i, name := range out.names {
		u, err := url.Parse(out.peers[i])
		if err != nil {
			return nil, fmt.Errorf("cluster %s: peer URL of %s: %w", cluster, name, err)
		}
		p.Central = append(p.Central, Node{Name: name, Role: Central, CloudIP: out.ips[i], Host: u.Hostname(), UserData: out.central[i]})
	}
	for j := range args.WorkerCount {
		p.Workers = append(p.Workers, Node{Name: cloud.WorkerName(cluster, j), Role: Worker, UserData: out.worker})
	}
	for _, n := range append(slices.Clone(p.Central), p.Workers...) {
		if n.UserData == "" {
			return nil, errors.New("machine " + n.Name + " carries no user data")
		}
	}
	return p, nil
}
