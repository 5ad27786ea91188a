package digitalocean

import (
	"fmt"
	"strconv"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi-digitalocean/sdk/v4/go/digitalocean"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// anywhere is every IPv4 and IPv6 address.
var anywhere = pulumi.StringArray{pulumi.String("0.0.0.0/0"), pulumi.String("::/0")}

type firewalls struct {
	central, worker *digitalocean.Firewall
}

// newFirewalls creates one firewall per role, keyed on the role tag. A
// DigitalOcean firewall drops whatever no rule allows, on the public and the
// VPC interface alike, so etcd is reachable only from the cluster's tags.
func newFirewalls(ctx *pulumi.Context, spec cloud.Spec, t *tags, opts []pulumi.ResourceOption) (*firewalls, error) {
	opts = with(opts, pulumi.DependsOn(t.resources))
	central, err := newFirewall(ctx, spec.Name+"-central", t.central, centralInbound(spec, t), opts)
	if err != nil {
		return nil, err
	}
	worker, err := newFirewall(ctx, spec.Name+"-worker", t.worker, append(metricsInbound(spec, t, spec.Ports.WorkerMetrics), sshInbound(spec.SSHAllowedCidrs)...), opts)
	if err != nil {
		return nil, err
	}
	return &firewalls{central: central, worker: worker}, nil
}

func newFirewall(ctx *pulumi.Context, name, tag string, inbound digitalocean.FirewallInboundRuleArray, opts []pulumi.ResourceOption) (*digitalocean.Firewall, error) {
	fw, err := digitalocean.NewFirewall(ctx, name+"-firewall", &digitalocean.FirewallArgs{
		Name:          pulumi.String(name),
		Tags:          pulumi.StringArray{pulumi.String(tag)},
		InboundRules:  inbound,
		OutboundRules: outboundAll(),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("firewall %s: %w", name, err)
	}
	return fw, nil
}

// centralInbound opens the client port to every cluster node and the peer
// port to central nodes only, both by tag, never by address.
func centralInbound(spec cloud.Spec, t *tags) digitalocean.FirewallInboundRuleArray {
	rules := digitalocean.FirewallInboundRuleArray{
		digitalocean.FirewallInboundRuleArgs{
			Protocol:   pulumi.String("tcp"),
			PortRange:  pulumi.String(strconv.Itoa(spec.Ports.Client)),
			SourceTags: pulumi.StringArray{pulumi.String(t.central), pulumi.String(t.worker)},
		},
		digitalocean.FirewallInboundRuleArgs{
			Protocol:   pulumi.String("tcp"),
			PortRange:  pulumi.String(strconv.Itoa(spec.Ports.Peer)),
			SourceTags: pulumi.StringArray{pulumi.String(t.central)},
		},
	}
	rules = append(rules, metricsInbound(spec, t, spec.Ports.Metrics)...)
	return append(rules, sshInbound(spec.SSHAllowedCidrs)...)
}

// metricsInbound opens a metrics port (0: none) to every cluster node, by
// tag, and to the monitoring tags and CIDRs.
func metricsInbound(spec cloud.Spec, t *tags, port int) digitalocean.FirewallInboundRuleArray {
	if port == 0 {
		return nil
	}
	rules := digitalocean.FirewallInboundRuleArray{
		digitalocean.FirewallInboundRuleArgs{
			Protocol:   pulumi.String("tcp"),
			PortRange:  pulumi.String(strconv.Itoa(port)),
			SourceTags: pulumi.StringArray{pulumi.String(t.central), pulumi.String(t.worker)},
		},
	}
	if len(spec.MonitoringGroups) > 0 {
		rules = append(rules, digitalocean.FirewallInboundRuleArgs{
			Protocol:   pulumi.String("tcp"),
			PortRange:  pulumi.String(strconv.Itoa(port)),
			SourceTags: pulumi.ToStringArray(spec.MonitoringGroups),
		})
	}
	if len(spec.MonitoringCidrs) > 0 {
		rules = append(rules, digitalocean.FirewallInboundRuleArgs{
			Protocol:        pulumi.String("tcp"),
			PortRange:       pulumi.String(strconv.Itoa(port)),
			SourceAddresses: pulumi.ToStringArray(spec.MonitoringCidrs),
		})
	}
	return rules
}

// sshInbound opens port 22 to the configured CIDRs, or to nobody.
func sshInbound(cidrs []string) digitalocean.FirewallInboundRuleArray {
	if len(cidrs) == 0 {
		return nil
	}
	return digitalocean.FirewallInboundRuleArray{
		digitalocean.FirewallInboundRuleArgs{
			Protocol:        pulumi.String("tcp"),
			PortRange:       pulumi.String("22"),
			SourceAddresses: pulumi.ToStringArray(cidrs),
		},
	}
}

// outboundAll lets nodes reach anything: they pull container images and updates.
func outboundAll() digitalocean.FirewallOutboundRuleArray {
	return digitalocean.FirewallOutboundRuleArray{
		digitalocean.FirewallOutboundRuleArgs{Protocol: pulumi.String("tcp"), PortRange: pulumi.String("1-65535"), DestinationAddresses: anywhere},
		digitalocean.FirewallOutboundRuleArgs{Protocol: pulumi.String("udp"), PortRange: pulumi.String("1-65535"), DestinationAddresses: anywhere},
		digitalocean.FirewallOutboundRuleArgs{Protocol: pulumi.String("icmp"), DestinationAddresses: anywhere},
	}
}
