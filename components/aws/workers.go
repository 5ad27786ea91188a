package aws

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/autoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// workers is the launch template and the group that runs it.
type workers struct {
	template *ec2.LaunchTemplate
	group    *autoscaling.Group
}

// newWorkers registers the workers as an auto scaling group of a fixed size.
// Workers hold no etcd state, so the group may replace them freely. The group
// exists even with no workers, so scaling up later is only a size change.
func newWorkers(ctx *pulumi.Context, spec cloud.Spec, ami pulumi.StringOutput, net *network, sgID pulumi.IDOutput, centralIPs []string, opts []pulumi.ResourceOption) (*workers, error) {
	name := spec.Name + "-worker"
	userData := userDataBase64(name, spec.CompactUserData, spec.WorkerUserData(pulumi.ToStringArray(centralIPs).ToStringArrayOutput()))
	tagMap := tags(spec, name, roleWorker)
	values := tagValues(spec, name, roleWorker)

	lt, err := ec2.NewLaunchTemplate(ctx, name, &ec2.LaunchTemplateArgs{
		ImageId:             ami,
		InstanceType:        pulumi.String(spec.WorkerSize),
		UserData:            userData,
		VpcSecurityGroupIds: pulumi.StringArray{sgID},
		BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{ec2.LaunchTemplateBlockDeviceMappingArgs{
			DeviceName: pulumi.String("/dev/xvda"),
			Ebs: ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
				VolumeType:          pulumi.String("gp3"),
				Encrypted:           pulumi.String("true"),
				DeleteOnTermination: pulumi.String("true"),
			},
		}},
		MetadataOptions: templateMetadata(spec.OS),
		TagSpecifications: ec2.LaunchTemplateTagSpecificationArray{
			ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("instance"), Tags: tagMap},
			ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("volume"), Tags: tagMap},
		},
		Tags: tagMap,
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("launch template %s: %w", name, err)
	}

	var groupTags autoscaling.GroupTagArray
	for _, k := range slices.Sorted(maps.Keys(values)) {
		groupTags = append(groupTags, autoscaling.GroupTagArgs{
			Key:               pulumi.String(k),
			Value:             pulumi.String(values[k]),
			PropagateAtLaunch: pulumi.Bool(true),
		})
	}
	group, err := autoscaling.NewGroup(ctx, name, &autoscaling.GroupArgs{
		MinSize:            pulumi.Int(spec.WorkerCount),
		MaxSize:            pulumi.Int(spec.WorkerCount),
		DesiredCapacity:    pulumi.Int(spec.WorkerCount),
		VpcZoneIdentifiers: net.subnetIDs,
		LaunchTemplate: autoscaling.GroupLaunchTemplateArgs{
			Id:      lt.ID(),
			Version: lt.LatestVersion.ApplyT(strconv.Itoa).(pulumi.StringOutput),
		},
		HealthCheckType: pulumi.String("EC2"),
		// A new launch template version (image, size, user data) rolls the
		// workers a few at a time; workers hold no etcd state, and the
		// gateway on every other worker keeps serving meanwhile.
		InstanceRefresh: autoscaling.GroupInstanceRefreshArgs{
			Strategy: pulumi.String("Rolling"),
			Preferences: autoscaling.GroupInstanceRefreshPreferencesArgs{
				MinHealthyPercentage: pulumi.Int(90),
				InstanceWarmup:       pulumi.String("120"),
			},
		},
		Tags: groupTags,
	}, slices.Concat(opts, []pulumi.ResourceOption{pulumi.DependsOn(net.routes)})...)
	if err != nil {
		return nil, fmt.Errorf("auto scaling group %s: %w", name, err)
	}
	return &workers{template: lt, group: group}, nil
}
