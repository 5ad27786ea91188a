// Package cloud is the contract between the Cluster component and a cloud
// backend. A backend turns rendered user data into machines, a private network
// and firewalls; it never sees etcd flags. A new cloud is one new package that
// implements Provider.
package cloud

import (
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
}

// Spec is everything a backend needs to provision one cluster.
type Spec struct {
	// Name prefixes every resource and tag of the cluster.
	Name    string
	Region  string
	VpcCidr string
	OS      OS
	// Image is the operator's image; empty means the backend's Flatcar image.
	Image string
	Ports Ports

	CentralSize string
	// CentralNames name the central nodes, one each; CentralUserData holds
	// their user data, in the same order.
	CentralNames    []string
	CentralUserData []pulumi.StringInput

	WorkerCount int
	WorkerSize  string
	// WorkerUserData renders the user data every worker carries from the central
	// nodes' private IPs; the backend calls it once.
	WorkerUserData func(centralPrivateIPs pulumi.StringArrayOutput) pulumi.StringOutput

	// SSHAllowedCidrs may reach port 22 on every node; nothing else from outside
	// the cluster reaches any port.
	SSHAllowedCidrs []string
	Tags            map[string]string
}

// Cluster is what a backend reports back.
type Cluster struct {
	CentralPrivateIPs pulumi.StringArrayOutput
	CentralPublicIPs  pulumi.StringArrayOutput
	// WorkerGroup names the workers as the cloud groups them: an auto scaling
	// group name on AWS, a tag on DigitalOcean.
	WorkerGroup pulumi.StringOutput
	// Network holds the ids of the network resources, by name (vpcId, subnetIds…).
	Network pulumi.Map
}

// Provider provisions clusters on one cloud.
type Provider interface {
	// Check rejects values this cloud cannot take, before anything is
	// registered. Errors name the stack config key, the value and what is
	// allowed.
	Check(region, image string) error
	// DefaultSizes are the machine sizes used when the stack sets none.
	DefaultSizes() (central, worker string)
	// Provision registers the cluster's resources; opts carry the parent.
	Provision(ctx *pulumi.Context, spec Spec, opts ...pulumi.ResourceOption) (*Cluster, error)
}
