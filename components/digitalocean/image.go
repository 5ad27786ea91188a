package digitalocean

import (
	"fmt"
	"strconv"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi-digitalocean/sdk/v4/go/digitalocean"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// flatcarImageURL is Flatcar's DigitalOcean image on the stable channel.
// DigitalOcean has no Flatcar slug, so the image is imported from here; the
// URL names "current", which DigitalOcean resolves once, at import.
const flatcarImageURL = "https://stable.release.flatcar-linux.net/amd64-usr/current/flatcar_production_digitalocean_image.bin.bz2"

// newImage returns the image droplets boot, and whether it is a custom image
// made here: the operator's image when set, else an imported Flatcar.
func newImage(ctx *pulumi.Context, spec cloud.Spec, opts []pulumi.ResourceOption) (pulumi.StringInput, bool, error) {
	if spec.Image != nil {
		return spec.Image, false, nil
	}
	// "CoreOS" is the distribution DigitalOcean files Container Linux family
	// images under; it has no Flatcar entry.
	img, err := digitalocean.NewCustomImage(ctx, spec.Name+"-flatcar", &digitalocean.CustomImageArgs{
		Name:         pulumi.String(spec.Name + "-flatcar-stable"),
		Url:          pulumi.String(flatcarImageURL),
		Regions:      pulumi.StringArray{pulumi.String(spec.Region)},
		Distribution: pulumi.String("CoreOS"),
		Description:  pulumi.String("Flatcar Container Linux, stable channel, for etcd cluster " + spec.Name),
	}, opts...)
	if err != nil {
		return nil, false, fmt.Errorf("flatcar image in %s: %w", spec.Region, err)
	}
	id := img.ImageId.ApplyT(func(id int) string { return strconv.Itoa(id) }).(pulumi.StringOutput)
	return id, true, nil
}
