package aws

import (
	"fmt"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// flatcarOwner is the AWS account that publishes Flatcar's official AMIs.
const flatcarOwner = "075585003325"

// image returns spec.Image, or else the newest Flatcar stable AMI of the
// region. It looks the AMI up rather than pinning one because Flatcar
// withdraws AMIs after about nine months.
func image(ctx *pulumi.Context, spec cloud.Spec, invoke []pulumi.InvokeOption) (pulumi.StringOutput, error) {
	if spec.Image != nil {
		return spec.Image.ToStringOutput(), nil
	}
	mostRecent := true
	ami, err := ec2.LookupAmi(ctx, &ec2.LookupAmiArgs{
		Owners:     []string{flatcarOwner},
		MostRecent: &mostRecent,
		Filters: []ec2.GetAmiFilter{
			{Name: "name", Values: []string{"Flatcar-stable-*"}},
			{Name: "virtualization-type", Values: []string{"hvm"}},
			{Name: "architecture", Values: []string{"x86_64"}},
		},
	}, invoke...)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("image: look up the Flatcar stable AMI: %w", err)
	}
	return pulumi.String(ami.Id).ToStringOutput(), nil
}
