package digitalocean

import (
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi-digitalocean/sdk/v4/go/digitalocean"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components/cloud"
)

// zoneName is a domain name of two or more labels.
var zoneName = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// KnowsCentralHosts is true with a zone: a droplet's address exists only
// once the droplet does, but its name in the zone is known before. The zone
// must be a domain name, and already a domain of the account (DigitalOcean
// refuses records in one that is not).
func (provider) KnowsCentralHosts(zone string) (bool, error) {
	if zone != "" && !zoneName.MatchString(zone) {
		return false, fmt.Errorf("dnsZone: %q is not a domain name; want a domain of your DigitalOcean account, such as example.com or etcd.example.com", zone)
	}
	return zone != "", nil
}

// centralHosts are the names central nodes have in the DNS zone, known
// before any droplet exists; nil without a zone.
func centralHosts(spec cloud.Spec) []string {
	if spec.DNSZone == "" {
		return nil
	}
	hosts := make([]string, len(spec.Central))
	for i, node := range spec.Central {
		hosts[i] = node.Name + "." + spec.DNSZone
	}
	return hosts
}

// newRecords points each central node's name at its private address. A
// replaced droplet gets a new address and the same name, so its peers and
// every worker's gateway still reach it, with no new user data anywhere.
func newRecords(ctx *pulumi.Context, spec cloud.Spec, droplets []*digitalocean.Droplet, opts []pulumi.ResourceOption) error {
	if spec.DNSZone == "" {
		return nil
	}
	for i, node := range spec.Central {
		if _, err := digitalocean.NewDnsRecord(ctx, node.Name, &digitalocean.DnsRecordArgs{
			Domain: pulumi.String(spec.DNSZone),
			Name:   pulumi.String(node.Name),
			Type:   pulumi.String("A"),
			Value:  droplets[i].Ipv4AddressPrivate,
			// Short, so that a replaced member is found again quickly.
			Ttl: pulumi.Int(60),
		}, opts...); err != nil {
			return fmt.Errorf("dns record %s.%s: %w", node.Name, spec.DNSZone, err)
		}
	}
	return nil
}
