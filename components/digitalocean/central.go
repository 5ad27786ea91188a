package digitalocean

import (
	"fmt"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi-digitalocean/sdk/v4/go/digitalocean"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// volumeName names a central node's data volume.
func volumeName(node string) string { return node + "-data" }

// DataDevice is the stable path DigitalOcean gives an attached volume.
func (provider) DataDevice(node string) string {
	return "/dev/disk/by-id/scsi-0DO_Volume_" + volumeName(node)
}

// rollOnly are the droplet inputs a central node takes only when rolled: a
// new image or user data replaces the droplet, and a new size powers it off
// to resize it (docs/operations.md lists the DigitalOcean documentation).
var rollOnly = []string{"image", "userData", "size"}

// newCentral creates one droplet per central node, each with its own user data
// and its own data volume, which outlives the droplet. hosts are the names
// the nodes will have in the operator's DNS zone, nil without one; store is
// the backup bucket, nil without backups.
func newCentral(ctx *pulumi.Context, spec cloud.Spec, hosts []string, store *cloud.Store, image pulumi.StringInput, vpc *digitalocean.Vpc, t *tags, opts []pulumi.ResourceOption) ([]*digitalocean.Droplet, error) {
	userData, err := spec.CentralUserData(hosts, store)
	if err != nil {
		return nil, err
	}
	droplets := make([]*digitalocean.Droplet, len(spec.Central))
	for i, node := range spec.Central {
		volume, err := digitalocean.NewVolume(ctx, volumeName(node.Name), &digitalocean.VolumeArgs{
			Name:        pulumi.String(volumeName(node.Name)),
			Region:      pulumi.String(spec.Region),
			Size:        pulumi.Int(cloud.DataVolumeGiB),
			Description: pulumi.String("etcd data of central node " + node.Name),
			Tags:        t.forRole(t.central),
		}, with(opts, pulumi.Protect(spec.ProtectCentral))...)
		if err != nil {
			return nil, fmt.Errorf("central data volume %s: %w", node.Name, err)
		}
		d, err := digitalocean.NewDroplet(ctx, node.Name, &digitalocean.DropletArgs{
			Name:       pulumi.String(node.Name),
			Image:      image,
			Region:     pulumi.String(spec.Region),
			Size:       pulumi.String(spec.CentralSize),
			VpcUuid:    vpc.ID(),
			UserData:   userData[i],
			VolumeIds:  pulumi.StringArray{volume.ID()},
			Tags:       t.forRole(t.central),
			Monitoring: pulumi.Bool(false),
			Ipv6:       pulumi.Bool(false),
			// A roll deletes the droplet: shut down first, so that etcd stops
			// as its unit stops it (moving leadership off the member) before
			// the provider detaches the data volume and destroys the droplet,
			// which it otherwise does to a running member.
			GracefulShutdown: pulumi.Bool(true),
		}, with(opts, node.MachineOptions(spec.ProtectCentral, rollOnly...)...)...)
		if err != nil {
			return nil, fmt.Errorf("central droplet %s: %w", node.Name, err)
		}
		droplets[i] = d
	}
	return droplets, nil
}
