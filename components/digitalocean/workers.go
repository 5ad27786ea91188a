package digitalocean

import (
	"fmt"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi-digitalocean/sdk/v4/go/digitalocean"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// newWorkers creates spec.WorkerCount identical droplets. Workers hold no etcd
// state, so they take image and user data changes by replacement. DigitalOcean
// has no auto scaling group for plain droplets; the worker tag groups them.
func newWorkers(ctx *pulumi.Context, spec cloud.Spec, image pulumi.StringInput, vpc *digitalocean.Vpc, t *tags, centralHosts pulumi.StringArrayOutput, opts []pulumi.ResourceOption) error {
	if spec.WorkerUserData == nil {
		return fmt.Errorf("no worker user data")
	}
	// Rendered even for zero workers: the cluster reports what workers carry.
	userData := spec.WorkerUserData(centralHosts)
	for i := range spec.WorkerCount {
		name := cloud.WorkerName(spec.Name, i)
		_, err := digitalocean.NewDroplet(ctx, name, &digitalocean.DropletArgs{
			Name:       pulumi.String(name),
			Image:      image,
			Region:     pulumi.String(spec.Region),
			Size:       pulumi.String(spec.WorkerSize),
			VpcUuid:    vpc.ID(),
			UserData:   userData,
			Tags:       t.forRole(t.worker),
			Monitoring: pulumi.Bool(false),
			Ipv6:       pulumi.Bool(false),
		}, opts...)
		if err != nil {
			return fmt.Errorf("worker droplet %s: %w", name, err)
		}
	}
	return nil
}
