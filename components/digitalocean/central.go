package digitalocean

import (
	"fmt"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi-digitalocean/sdk/v4/go/digitalocean"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// newCentral creates one droplet per central node, each with its own user data.
func newCentral(ctx *pulumi.Context, spec cloud.Spec, image pulumi.StringInput, vpc *digitalocean.Vpc, t *tags, opts []pulumi.ResourceOption) ([]*digitalocean.Droplet, error) {
	if len(spec.CentralNames) != len(spec.CentralUserData) {
		return nil, fmt.Errorf("digitalocean: %d central names but %d central user data", len(spec.CentralNames), len(spec.CentralUserData))
	}
	// A voting member is replaced only by a deliberate, one-at-a-time
	// procedure. DigitalOcean replaces a droplet whose image or user data
	// changes, so neither may touch a central node as a side effect.
	opts = with(opts, pulumi.IgnoreChanges([]string{"image", "userData"}))
	droplets := make([]*digitalocean.Droplet, len(spec.CentralNames))
	for i, name := range spec.CentralNames {
		d, err := digitalocean.NewDroplet(ctx, name, &digitalocean.DropletArgs{
			Name:       pulumi.String(name),
			Image:      image,
			Region:     pulumi.String(spec.Region),
			Size:       pulumi.String(spec.CentralSize),
			VpcUuid:    vpc.ID(),
			UserData:   spec.CentralUserData[i],
			Tags:       t.forRole(t.central),
			Monitoring: pulumi.Bool(false),
			Ipv6:       pulumi.Bool(false),
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("digitalocean: central droplet %s: %w", name, err)
		}
		droplets[i] = d
	}
	return droplets, nil
}
