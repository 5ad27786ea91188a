package aws

import (
	"fmt"
	"slices"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// central is the voting members: their fixed addresses and what the
// instances report.
type central struct {
	// privateIPs are fixed before anything exists.
	privateIPs       []string
	privateIPOutputs pulumi.StringArrayOutput
	publicIPOutputs  pulumi.StringArrayOutput
}

// newCentral registers one instance per central node, spread over the zones
// at fixed private addresses, so a replaced node keeps its etcd peer URL.
func newCentral(ctx *pulumi.Context, spec cloud.Spec, ami string, net *network, sgID pulumi.IDOutput, opts []pulumi.ResourceOption) (*central, error) {
	if len(spec.CentralUserData) != len(spec.CentralNames) {
		return nil, fmt.Errorf("central nodes: %d names but %d user data", len(spec.CentralNames), len(spec.CentralUserData))
	}
	// A newer AMI from the lookup or changed user data must never replace or
	// restart a voting member (an AMI change replaces the instance, a user
	// data change stops and starts it); members are rolled one at a time on
	// purpose, never as a side effect of an update.
	opts = slices.Concat(opts, []pulumi.ResourceOption{
		pulumi.IgnoreChanges([]string{"ami", "userData"}),
		pulumi.DependsOn(net.routes),
	})

	c := &central{}
	var private, public []pulumi.StringOutput
	for i, name := range spec.CentralNames {
		ip, err := centralIP(net.subnets, i)
		if err != nil {
			return nil, fmt.Errorf("vpcCidr %s: %w", spec.VpcCidr, err)
		}
		inst, err := ec2.NewInstance(ctx, name, &ec2.InstanceArgs{
			Ami:                 pulumi.String(ami),
			InstanceType:        pulumi.String(spec.CentralSize),
			SubnetId:            net.subnetIDs[i%len(net.subnetIDs)],
			PrivateIp:           pulumi.String(ip.String()),
			VpcSecurityGroupIds: pulumi.StringArray{sgID},
			UserData:            spec.CentralUserData[i],
			RootBlockDevice: ec2.InstanceRootBlockDeviceArgs{
				VolumeType:          pulumi.String("gp3"),
				Encrypted:           pulumi.Bool(true),
				DeleteOnTermination: pulumi.Bool(true),
			},
			MetadataOptions: ec2.InstanceMetadataOptionsArgs{
				HttpEndpoint: pulumi.String("enabled"),
				HttpTokens:   pulumi.String(metadataTokens(spec.OS)),
			},
			Tags:       tags(spec, name, roleCentral),
			VolumeTags: tags(spec, name, roleCentral),
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("central instance %s: %w", name, err)
		}
		c.privateIPs = append(c.privateIPs, ip.String())
		private = append(private, inst.PrivateIp)
		public = append(public, inst.PublicIp)
	}
	c.privateIPOutputs = pulumi.ToStringArrayOutput(private)
	c.publicIPOutputs = pulumi.ToStringArrayOutput(public)
	return c, nil
}
