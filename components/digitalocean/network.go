package digitalocean

import (
	"fmt"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi-digitalocean/sdk/v4/go/digitalocean"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// newVpc creates the private network etcd peers and clients talk over.
func newVpc(ctx *pulumi.Context, spec cloud.Spec, opts []pulumi.ResourceOption) (*digitalocean.Vpc, error) {
	vpc, err := digitalocean.NewVpc(ctx, spec.Name+"-vpc", &digitalocean.VpcArgs{
		Name:        pulumi.String(spec.Name),
		Region:      pulumi.String(spec.Region),
		IpRange:     pulumi.String(spec.VpcCidr),
		Description: pulumi.String("etcd cluster " + spec.Name),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("vpc %s in %s: %w", spec.VpcCidr, spec.Region, err)
	}
	return vpc, nil
}
