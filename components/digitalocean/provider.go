// Package digitalocean is the DigitalOcean backend of the cluster: a VPC,
// droplets tagged by cluster and role, and cloud firewalls keyed on those tags.
package digitalocean

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

var (
	// regionSlug is the shape of every DigitalOcean region slug (nyc3, fra1…).
	regionSlug = regexp.MustCompile(`^[a-z]{3}[0-9]$`)
	// imageRef is an image slug (ubuntu-24-04-x64) or a numeric image id.
	imageRef = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
	// tagPattern is what DigitalOcean allows in a tag: letters, digits,
	// colons, dashes and underscores, at most 255.
	tagPattern = regexp.MustCompile(`^[A-Za-z0-9:_-]{1,255}$`)
)

type provider struct{}

// New returns the DigitalOcean backend. It registers everything through the
// default DigitalOcean provider, which takes its API token from
// digitalocean:token or DIGITALOCEAN_TOKEN, so none is handled here.
func New() cloud.Provider { return provider{} }

// CheckRegion rejects a region that cannot be a DigitalOcean one, so a stack
// configured for another cloud fails before anything is registered.
func (provider) CheckRegion(region string) error {
	if region == "" {
		return fmt.Errorf("region: required on DigitalOcean, whose provider has no region setting: every resource names its region; want a region slug such as nyc3")
	}
	if !regionSlug.MatchString(region) {
		return fmt.Errorf("region: %q is not a DigitalOcean region; want a slug such as nyc3, sfo3, ams3, fra1 or lon1", region)
	}
	return nil
}

// CheckImage rejects what cannot be a DigitalOcean image.
func (provider) CheckImage(image string) error {
	if !imageRef.MatchString(image) {
		return fmt.Errorf("image: %q is not a DigitalOcean image; want an image slug such as ubuntu-24-04-x64 or a numeric image id", image)
	}
	return nil
}

// CheckMonitoringGroups rejects what cannot be a droplet tag: DigitalOcean
// groups machines by tag, and its firewalls admit a tag's droplets. The
// tag must exist (DigitalOcean refuses a firewall naming one that does
// not), as it does once the scraping droplet carries it.
func (provider) CheckMonitoringGroups(groups []string) error {
	var errs []error
	for i, g := range groups {
		if !tagPattern.MatchString(g) {
			errs = append(errs, fmt.Errorf("monitoringGroups[%d]: %q is not a DigitalOcean tag; want the tag of the droplets that scrape (letters, digits, colons, dashes and underscores, at most 255), such as prometheus", i, g))
		}
	}
	return errors.Join(errs...)
}

// Region is the stack's: CheckRegion requires it.
func (provider) Region(_ *pulumi.Context, region string) (string, error) { return region, nil }

// DefaultSizes gives both roles 2 vCPUs and 4 GB: enough for an etcd member,
// and a worker is the same machine minus the consensus load.
func (provider) DefaultSizes() (central, worker string) {
	return "s-2vcpu-4gb", "s-2vcpu-4gb"
}

// Provision registers tags, the VPC, the image, the firewalls and then the
// droplets, so that every droplet boots already behind its firewall.
func (provider) Provision(ctx *pulumi.Context, spec cloud.Spec, opts ...pulumi.ResourceOption) (*cloud.Provisioned, error) {
	// What central nodes, their data, names and backups depend on is kept:
	// protected with spec.ProtectCentral. The workers are free, and so is
	// an imported image, which a move to another image deletes.
	keep := with(opts, pulumi.Protect(spec.ProtectCentral))
	tags, err := newTags(ctx, spec, keep, opts)
	if err != nil {
		return nil, err
	}
	vpc, err := newVpc(ctx, spec, keep)
	if err != nil {
		return nil, err
	}
	image, custom, err := newImage(ctx, spec, opts)
	if err != nil {
		return nil, err
	}
	fw, err := newFirewalls(ctx, spec, tags, keep)
	if err != nil {
		return nil, err
	}
	// Droplets wait for their tags and firewalls: a droplet created before
	// the firewall that matches its tag would be reachable on every port.
	dropletOpts := with(opts, pulumi.DependsOn(slices.Concat(tags.resources, []pulumi.Resource{fw.central, fw.worker})))
	var store *cloud.Store
	if spec.Backup != nil {
		if store, err = newBackup(ctx, spec, keep); err != nil {
			return nil, err
		}
	}
	names := centralHosts(spec)
	central, err := newCentral(ctx, spec, names, store, image, vpc, tags, dropletOpts)
	if err != nil {
		return nil, err
	}
	if err := newRecords(ctx, spec, central, keep); err != nil {
		return nil, err
	}
	privateIPs := make([]pulumi.StringOutput, len(central))
	publicIPs := make([]pulumi.StringOutput, len(central))
	sizes := make([]pulumi.StringOutput, len(central))
	for i, d := range central {
		privateIPs[i] = d.Ipv4AddressPrivate
		publicIPs[i] = d.Ipv4Address
		sizes[i] = d.Size
	}
	centralPrivateIPs := pulumi.ToStringArrayOutput(privateIPs)
	// By name where the zone gives one: then a replaced droplet changes no
	// worker's user data.
	hosts := centralPrivateIPs
	if names != nil {
		hosts = pulumi.ToStringArray(names).ToStringArrayOutput()
	}
	if err := newWorkers(ctx, spec, image, vpc, tags, hosts, dropletOpts); err != nil {
		return nil, err
	}

	network := pulumi.Map{
		"vpcId":             vpc.ID(),
		"centralFirewallId": fw.central.ID(),
		"workerFirewallId":  fw.worker.ID(),
	}
	if custom {
		network["imageId"] = image
	}
	return &cloud.Provisioned{
		CentralHosts:      hosts,
		CentralPrivateIPs: centralPrivateIPs,
		CentralPublicIPs:  pulumi.ToStringArrayOutput(publicIPs),
		CentralSizes:      pulumi.ToStringArrayOutput(sizes),
		WorkerGroup:       pulumi.String(tags.worker).ToStringOutput(),
		Network:           network,
	}, nil
}

// with returns opts plus more without writing into the caller's backing array,
// which several children share.
func with(opts []pulumi.ResourceOption, more ...pulumi.ResourceOption) []pulumi.ResourceOption {
	return append(slices.Clip(opts), more...)
}
