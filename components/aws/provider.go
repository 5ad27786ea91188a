// Package aws provisions isolated-etcd clusters on AWS: a VPC with one public
// subnet per availability zone, central nodes as individual EC2 instances at
// fixed private addresses, and workers as an auto scaling group.
package aws

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Tag keys every resource of a cluster carries, so operators and scripts can
// find a cluster's machines and tell voting members from workers.
const (
	clusterTag = "isolated-etcd:cluster"
	roleTag    = "isolated-etcd:role"

	roleCentral = "central"
	roleWorker  = "worker"
)

var (
	regionPattern = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$`)
	amiPattern    = regexp.MustCompile(`^ami-[0-9a-f]{8}([0-9a-f]{9})?$`)
	sgPattern     = regexp.MustCompile(`^sg-[0-9a-f]{8}([0-9a-f]{9})?$`)
)

type provider struct{}

// New returns the AWS backend.
func New() cloud.Provider { return provider{} }

// CheckRegion rejects a region AWS cannot have, before the AWS provider
// fails with a less helpful error. Unset is allowed: the AWS provider's own
// config (aws:region, AWS_REGION, the profile) names the region then.
func (provider) CheckRegion(region string) error {
	if region != "" && !regionPattern.MatchString(region) {
		return fmt.Errorf("region: %q is not an AWS region; want a region name such as us-east-1, or unset to use aws:region", region)
	}
	return nil
}

// Region is region when the stack pins one, else the default AWS provider's.
func (provider) Region(ctx *pulumi.Context, region string) (string, error) {
	if region != "" {
		return region, nil
	}
	res, err := aws.GetRegion(ctx, &aws.GetRegionArgs{})
	if err != nil {
		return "", fmt.Errorf("aws:region: the AWS provider cannot say which region it is in; set aws:region (pulumi config set aws:region us-east-2), AWS_REGION or a profile's region, or this project's region key: %w", err)
	}
	if !regionPattern.MatchString(res.Name) {
		return "", fmt.Errorf("aws:region: %q, the AWS provider's region, is not an AWS region; want a region name such as us-east-1", res.Name)
	}
	return res.Name, nil
}

// CheckImage rejects what cannot be an AMI id.
func (provider) CheckImage(image string) error {
	if !amiPattern.MatchString(image) {
		return fmt.Errorf("image: %q is not an AMI id; want ami- and 8 or 17 lowercase hex digits (e.g. ami-0123456789abcdef0), or unset for the latest Flatcar stable AMI", image)
	}
	return nil
}

// CheckMonitoringGroups rejects what cannot be a security group id. A group
// name would do only in the default VPC, never the cluster's own.
func (provider) CheckMonitoringGroups(groups []string) error {
	var errs []error
	for i, g := range groups {
		if !sgPattern.MatchString(g) {
			errs = append(errs, fmt.Errorf("monitoringGroups[%d]: %q is not a security group id; want sg- and 8 or 17 lowercase hex digits (e.g. sg-0123456789abcdef0) of a group in the cluster's VPC or a peered VPC of its region", i, g))
		}
	}
	return errors.Join(errs...)
}

// KnowsCentralHosts is always true: AWS central nodes are reached at fixed
// private addresses, known before the instances exist, so they need no
// names, and a zone is refused.
func (provider) KnowsCentralHosts(zone string) (bool, error) {
	if zone != "" {
		return true, fmt.Errorf("dnsZone: %q is not used on AWS, where central nodes keep fixed private addresses that peers and clients reach directly; leave it unset", zone)
	}
	return true, nil
}

// DefaultSizes are burstable types: central nodes hold the etcd data and
// workers run the actual workloads, so workers get the larger type.
func (provider) DefaultSizes() (central, worker string) {
	return "t3.medium", "t3.large"
}

// Provision registers the network, firewalls, central instances and worker
// group of one cluster: through the default AWS provider, so that aws:region,
// aws:profile and the provider's other settings apply as documented, or, when
// the stack sets spec.Region, through a provider of its own pinned there.
func (provider) Provision(ctx *pulumi.Context, spec cloud.Spec, opts ...pulumi.ResourceOption) (*cloud.Provisioned, error) {
	var invoke []pulumi.InvokeOption
	if spec.Region != "" {
		// An explicit provider takes no aws: stack config, only its
		// arguments and the environment (AWS_PROFILE, AWS_ACCESS_KEY_ID…).
		p, err := aws.NewProvider(ctx, spec.Name+"-aws", &aws.ProviderArgs{
			Region: pulumi.String(spec.Region),
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("aws provider for region %s: %w", spec.Region, err)
		}
		opts = slices.Concat(opts, []pulumi.ResourceOption{pulumi.Provider(p)})
		invoke = []pulumi.InvokeOption{pulumi.Provider(p)}
	}

	// What central nodes, their data and their backups depend on is kept:
	// protected with spec.ProtectCentral. Only the workers are free.
	keep := slices.Concat(opts, []pulumi.ResourceOption{pulumi.Protect(spec.ProtectCentral)})
	net, err := newNetwork(ctx, spec, invoke, keep)
	if err != nil {
		return nil, err
	}
	sgs, err := newSecurityGroups(ctx, spec, net.vpc.ID(), keep)
	if err != nil {
		return nil, err
	}
	ami, err := image(ctx, spec, invoke)
	if err != nil {
		return nil, err
	}
	var bk *backup
	if spec.Backup != nil {
		if bk, err = newBackup(ctx, spec, invoke, keep); err != nil {
			return nil, err
		}
	}
	central, err := newCentral(ctx, spec, ami, net, sgs.central.ID(), bk, opts)
	if err != nil {
		return nil, err
	}
	workers, err := newWorkers(ctx, spec, ami, net, sgs.worker.ID(), central.privateIPs, opts)
	if err != nil {
		return nil, err
	}

	return &cloud.Provisioned{
		CentralHosts:      pulumi.ToStringArray(central.privateIPs).ToStringArrayOutput(),
		CentralPrivateIPs: central.privateIPOutputs,
		CentralPublicIPs:  central.publicIPOutputs,
		CentralSizes:      central.sizes,
		WorkerGroup:       workers.group.Name,
		Network: pulumi.Map{
			"vpcId":                  net.vpc.ID(),
			"subnetIds":              net.subnetIDs,
			"centralSecurityGroupId": sgs.central.ID(),
			"workerSecurityGroupId":  sgs.worker.ID(),
			"launchTemplateId":       workers.template.ID(),
		},
	}, nil
}

// tagValues are the operator's tags plus the name and cluster tags, and the
// role tag when role is not empty.
func tagValues(spec cloud.Spec, name, role string) map[string]string {
	m := make(map[string]string, len(spec.Tags)+3)
	maps.Copy(m, spec.Tags)
	m["Name"] = name
	m[clusterTag] = spec.Name
	if role != "" {
		m[roleTag] = role
	}
	return m
}

// tags are tagValues as a resource input.
func tags(spec cloud.Spec, name, role string) pulumi.StringMap {
	return pulumi.ToStringMap(tagValues(spec, name, role))
}

// userDataLimit is the most user data EC2 takes, before base64 encoding.
const userDataLimit = 16 << 10

// userDataBase64 is the user data of the machine or template called name as
// EC2 takes it, base64-encoded. Over EC2's limit it goes compacted, when
// the stack's format can be (a cloud-config to less than half); the run
// fails, before anything is sent, when EC2 would refuse it still. Under
// the limit the bytes are the rendered text itself, so a node reads what
// the stack's outputs show.
func userDataBase64(name string, compact func(string) ([]byte, error), userData pulumi.StringOutput) pulumi.StringOutput {
	return userData.ApplyT(func(s string) (string, error) {
		data := []byte(s)
		if len(data) > userDataLimit && compact != nil {
			var err error
			if data, err = compact(s); err != nil {
				return "", fmt.Errorf("user data of %s: %w", name, err)
			}
			if len(data) > userDataLimit {
				return "", fmt.Errorf("user data of %s: %d bytes, %d compacted, and EC2 takes at most %d; fewer sshAuthorizedKeys, or a CA rotation finished (two CAs are trusted during one), make it smaller", name, len(s), len(data), userDataLimit)
			}
		}
		if len(data) > userDataLimit {
			return "", fmt.Errorf("user data of %s: %d bytes, and EC2 takes at most %d; fewer sshAuthorizedKeys, or a CA rotation finished (two CAs are trusted during one), make it smaller", name, len(s), userDataLimit)
		}
		return base64.StdEncoding.EncodeToString(data), nil
	}).(pulumi.StringOutput)
}
