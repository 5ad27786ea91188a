package aws

import (
	"fmt"
	"slices"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ebs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// dataDevice is where every central instance gets its data volume. Flatcar's
// udev rules link an EBS NVMe volume to the name it was attached under.
const dataDevice = "/dev/xvdf"

// DataDevice is the same for every central node: one data volume each.
func (provider) DataDevice(string) string { return dataDevice }

// central is the voting members: their fixed addresses and what the
// instances report.
type central struct {
	// privateIPs are fixed before anything exists.
	privateIPs       []string
	privateIPOutputs pulumi.StringArrayOutput
	publicIPOutputs  pulumi.StringArrayOutput
	sizes            pulumi.StringArrayOutput
}

// rollOnly are the instance inputs a central node takes only when rolled: a
// new AMI replaces the instance, and new user data or instance type stops and
// starts it (docs/operations.md lists the AWS documentation behind each).
// Instances made before user data went base64 hold it in userData: ignoring
// both keeps them until their roll moves it.
var rollOnly = []string{"ami", "userData", "userDataBase64", "instanceType"}

// newCentral registers one instance per central node, spread over the zones
// at fixed private addresses, each with an encrypted data volume of its own.
// Address and volume outlive the instance, so a replaced instance comes back
// as the same etcd member. With bk, instances carry its role.
func newCentral(ctx *pulumi.Context, spec cloud.Spec, ami pulumi.StringOutput, net *network, sgID pulumi.IDOutput, bk *backup, opts []pulumi.ResourceOption) (*central, error) {
	c := &central{}
	for i := range spec.Central {
		ip, err := centralIP(net.subnets, i)
		if err != nil {
			return nil, fmt.Errorf("vpcCidr %s: %w", spec.VpcCidr, err)
		}
		c.privateIPs = append(c.privateIPs, ip.String())
	}
	// The fixed addresses are known before any instance exists, so peers
	// and clients reach the members at them.
	var store *cloud.Store
	var profile pulumi.StringPtrInput
	if bk != nil {
		store, profile = bk.store, bk.profile.Name
	}
	userData, err := spec.CentralUserData(c.privateIPs, store)
	if err != nil {
		return nil, err
	}
	var private, public, sizes []pulumi.StringOutput
	for i, node := range spec.Central {
		zone := i % len(net.zones)
		ip := c.privateIPs[i]
		volume, err := ebs.NewVolume(ctx, node.Name+"-data", &ebs.VolumeArgs{
			AvailabilityZone: pulumi.String(net.zones[zone]),
			Size:             pulumi.Int(cloud.DataVolumeGiB),
			Type:             pulumi.String("gp3"),
			Encrypted:        pulumi.Bool(true),
			Tags:             tags(spec, node.Name+"-data", roleCentral),
		}, slices.Concat(opts, []pulumi.ResourceOption{pulumi.Protect(spec.ProtectCentral)})...)
		if err != nil {
			return nil, fmt.Errorf("central data volume %s: %w", node.Name, err)
		}
		inst, err := ec2.NewInstance(ctx, node.Name, &ec2.InstanceArgs{
			Ami:                 ami,
			InstanceType:        pulumi.String(spec.CentralSize),
			SubnetId:            net.subnetIDs[zone],
			PrivateIp:           pulumi.String(ip),
			VpcSecurityGroupIds: pulumi.StringArray{sgID},
			UserDataBase64:      userDataBase64(node.Name, spec.CompactUserData, userData[i]),
			IamInstanceProfile:  profile,
			RootBlockDevice: ec2.InstanceRootBlockDeviceArgs{
				VolumeType:          pulumi.String("gp3"),
				Encrypted:           pulumi.Bool(true),
				DeleteOnTermination: pulumi.Bool(true),
			},
			MetadataOptions: instanceMetadata(spec.OS),
			Tags:            tags(spec, node.Name, roleCentral),
			VolumeTags:      tags(spec, node.Name, roleCentral),
		}, slices.Concat(opts, node.MachineOptions(spec.ProtectCentral, rollOnly...), []pulumi.ResourceOption{pulumi.DependsOn(net.routes)})...)
		if err != nil {
			return nil, fmt.Errorf("central instance %s: %w", node.Name, err)
		}
		if _, err := ec2.NewVolumeAttachment(ctx, node.Name+"-data", &ec2.VolumeAttachmentArgs{
			DeviceName:                  pulumi.String(dataDevice),
			InstanceId:                  inst.ID(),
			VolumeId:                    volume.ID(),
			StopInstanceBeforeDetaching: pulumi.Bool(true),
		}, slices.Concat(opts, []pulumi.ResourceOption{node.Protect(spec.ProtectCentral)})...); err != nil {
			return nil, fmt.Errorf("central data volume attachment %s: %w", node.Name, err)
		}
		private = append(private, inst.PrivateIp)
		public = append(public, inst.PublicIp)
		sizes = append(sizes, inst.InstanceType)
	}
	c.privateIPOutputs = pulumi.ToStringArrayOutput(private)
	c.publicIPOutputs = pulumi.ToStringArrayOutput(public)
	c.sizes = pulumi.ToStringArrayOutput(sizes)
	return c, nil
}
