package aws

import (
	"fmt"
	"strings"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// securityGroups are the two firewalls of a cluster, one per role.
type securityGroups struct {
	central *ec2.SecurityGroup
	worker  *ec2.SecurityGroup
}

// newSecurityGroups registers the firewalls. etcd's ports are open only
// inside the cluster: the client port to central and worker nodes, the peer
// port to central nodes; from outside only SSH, and only from
// spec.SSHAllowedCidrs. Rules are inline so the group is the whole truth and
// a rule added by hand is removed on the next update.
func newSecurityGroups(ctx *pulumi.Context, spec cloud.Spec, vpcID pulumi.IDOutput, opts []pulumi.ResourceOption) (*securityGroups, error) {
	workerName := spec.Name + "-worker"
	worker, err := ec2.NewSecurityGroup(ctx, workerName, &ec2.SecurityGroupArgs{
		Description: pulumi.String("isolated-etcd workers of " + spec.Name),
		VpcId:       vpcID,
		Ingress:     append(workerMetricsIngress(spec), sshIngress(spec.SSHAllowedCidrs)...),
		Egress:      egressAll(),
		Tags:        tags(spec, workerName, roleWorker),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("security group %s: %w", workerName, err)
	}

	centralName := spec.Name + "-central"
	ingress := append(ec2.SecurityGroupIngressArray{
		ec2.SecurityGroupIngressArgs{
			Description: pulumi.String("etcd client from central nodes"),
			Protocol:    pulumi.String("tcp"),
			FromPort:    pulumi.Int(spec.Ports.Client),
			ToPort:      pulumi.Int(spec.Ports.Client),
			Self:        pulumi.Bool(true),
		},
		ec2.SecurityGroupIngressArgs{
			Description:    pulumi.String("etcd client from worker proxies"),
			Protocol:       pulumi.String("tcp"),
			FromPort:       pulumi.Int(spec.Ports.Client),
			ToPort:         pulumi.Int(spec.Ports.Client),
			SecurityGroups: pulumi.StringArray{worker.ID()},
		},
		ec2.SecurityGroupIngressArgs{
			Description: pulumi.String("etcd peer between central nodes"),
			Protocol:    pulumi.String("tcp"),
			FromPort:    pulumi.Int(spec.Ports.Peer),
			ToPort:      pulumi.Int(spec.Ports.Peer),
			Self:        pulumi.Bool(true),
		},
	}, centralMetricsIngress(spec, worker.ID())...)
	ingress = append(ingress, sshIngress(spec.SSHAllowedCidrs)...)
	central, err := ec2.NewSecurityGroup(ctx, centralName, &ec2.SecurityGroupArgs{
		Description: pulumi.String("isolated-etcd central nodes of " + spec.Name),
		VpcId:       vpcID,
		Ingress:     ingress,
		Egress:      egressAll(),
		Tags:        tags(spec, centralName, roleCentral),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("security group %s: %w", centralName, err)
	}
	return &securityGroups{central: central, worker: worker}, nil
}

// centralMetricsIngress opens the central nodes' metrics port to every
// cluster node and to the monitoring CIDRs.
func centralMetricsIngress(spec cloud.Spec, worker pulumi.IDOutput) ec2.SecurityGroupIngressArray {
	if spec.Ports.Metrics == 0 {
		return nil
	}
	port := pulumi.Int(spec.Ports.Metrics)
	return append(ec2.SecurityGroupIngressArray{
		ec2.SecurityGroupIngressArgs{Description: pulumi.String("etcd metrics from central nodes"), Protocol: pulumi.String("tcp"), FromPort: port, ToPort: port, Self: pulumi.Bool(true)},
		ec2.SecurityGroupIngressArgs{Description: pulumi.String("etcd metrics from workers"), Protocol: pulumi.String("tcp"), FromPort: port, ToPort: port, SecurityGroups: pulumi.StringArray{worker}},
	}, monitoringIngress(spec, spec.Ports.Metrics)...)
}

// workerMetricsIngress opens the workers' metrics port, where their proxy
// serves one, to the cluster's VPC, which holds only its nodes (the central
// group, which would name it, does not exist yet), and to the monitoring
// CIDRs.
func workerMetricsIngress(spec cloud.Spec) ec2.SecurityGroupIngressArray {
	if spec.Ports.WorkerMetrics == 0 {
		return nil
	}
	port := pulumi.Int(spec.Ports.WorkerMetrics)
	return append(ec2.SecurityGroupIngressArray{
		ec2.SecurityGroupIngressArgs{Description: pulumi.String("proxy metrics from the cluster's nodes"), Protocol: pulumi.String("tcp"), FromPort: port, ToPort: port,
			CidrBlocks: pulumi.StringArray{pulumi.String(spec.VpcCidr)}},
	}, monitoringIngress(spec, spec.Ports.WorkerMetrics)...)
}

// monitoringIngress opens port to the operator's monitoring CIDRs and
// security groups; none means no rule, as AWS rejects a rule without
// sources.
func monitoringIngress(spec cloud.Spec, port int) ec2.SecurityGroupIngressArray {
	var rules ec2.SecurityGroupIngressArray
	if len(spec.MonitoringGroups) > 0 {
		rules = append(rules, ec2.SecurityGroupIngressArgs{Description: pulumi.String("metrics from the monitoring security groups"), Protocol: pulumi.String("tcp"), FromPort: pulumi.Int(port), ToPort: pulumi.Int(port),
			SecurityGroups: pulumi.ToStringArray(spec.MonitoringGroups)})
	}
	if len(spec.MonitoringCidrs) == 0 {
		return rules
	}
	var v4, v6 []string
	for _, c := range spec.MonitoringCidrs {
		if strings.Contains(c, ":") {
			v6 = append(v6, c)
		} else {
			v4 = append(v4, c)
		}
	}
	rule := ec2.SecurityGroupIngressArgs{Description: pulumi.String("metrics from the monitoring CIDRs"), Protocol: pulumi.String("tcp"), FromPort: pulumi.Int(port), ToPort: pulumi.Int(port)}
	if len(v4) > 0 {
		rule.CidrBlocks = pulumi.ToStringArray(v4)
	}
	if len(v6) > 0 {
		rule.Ipv6CidrBlocks = pulumi.ToStringArray(v6)
	}
	return append(rules, rule)
}

// sshIngress opens port 22 to cidrs; none means no rule at all, as AWS
// rejects a rule without sources.
func sshIngress(cidrs []string) ec2.SecurityGroupIngressArray {
	if len(cidrs) == 0 {
		return nil
	}
	return ec2.SecurityGroupIngressArray{ec2.SecurityGroupIngressArgs{
		Description: pulumi.String("SSH from allowed CIDRs"),
		Protocol:    pulumi.String("tcp"),
		FromPort:    pulumi.Int(22),
		ToPort:      pulumi.Int(22),
		CidrBlocks:  pulumi.ToStringArray(cidrs),
	}}
}

// egressAll lets nodes reach the internet: images, updates, discovery URL.
func egressAll() ec2.SecurityGroupEgressArray {
	return ec2.SecurityGroupEgressArray{ec2.SecurityGroupEgressArgs{
		Description: pulumi.String("all outbound"),
		Protocol:    pulumi.String("-1"),
		FromPort:    pulumi.Int(0),
		ToPort:      pulumi.Int(0),
		CidrBlocks:  pulumi.StringArray{pulumi.String("0.0.0.0/0")},
	}}
}

// metadataTokens is the IMDS token mode the image's user-data agent can use.
// Flatcar's coreos-cloudinit fetches an IMDSv2 token (flatcar/coreos-cloudinit
// PR #13, fixing flatcar/Flatcar#787, 2022), so Flatcar gets IMDSv2 only; old
// CoreOS Container Linux agents cannot read user data under IMDSv2.
func metadataTokens(os cloud.OS) string {
	if os == cloud.ContainerLinux {
		return "optional"
	}
	return "required"
}

// metadataHopLimit is how many network hops an IMDSv2 token may travel: one
// reaches a process on the host, and no further, so a container behind
// docker's bridge (a second hop) gets no token. Host-network containers are
// on the host's hop; the metadata firewall in every node's cloud-config is
// what keeps them out unless they run as root.
const metadataHopLimit = 1

// instanceMetadata and templateMetadata are the metadata options of central
// instances and of the workers' launch template.
func instanceMetadata(os cloud.OS) ec2.InstanceMetadataOptionsArgs {
	return ec2.InstanceMetadataOptionsArgs{
		HttpEndpoint:            pulumi.String("enabled"),
		HttpTokens:              pulumi.String(metadataTokens(os)),
		HttpPutResponseHopLimit: pulumi.Int(metadataHopLimit),
	}
}

func templateMetadata(os cloud.OS) ec2.LaunchTemplateMetadataOptionsArgs {
	return ec2.LaunchTemplateMetadataOptionsArgs{
		HttpEndpoint:            pulumi.String("enabled"),
		HttpTokens:              pulumi.String(metadataTokens(os)),
		HttpPutResponseHopLimit: pulumi.Int(metadataHopLimit),
	}
}
