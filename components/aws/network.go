package aws

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// maxZones caps the zones a cluster spans. Central node i lives in zone
// i % zones, so a cap keeps every node's zone and address stable when AWS adds
// a zone to the region; three zones already survive the loss of one.
const maxZones = 3

// network is the VPC and what instances need from it.
type network struct {
	vpc       *ec2.Vpc
	zones     []string
	subnets   []netip.Prefix
	subnetIDs pulumi.StringArray
	// routes must exist before instances boot: nodes pull container images
	// through the internet gateway on first boot.
	routes []pulumi.Resource
}

// newNetwork registers a VPC with one public subnet per zone, routed to the
// internet through an internet gateway. There is no NAT gateway: every node
// has a public address, and only SSH is reachable from outside.
func newNetwork(ctx *pulumi.Context, spec cloud.Spec, invoke []pulumi.InvokeOption, opts []pulumi.ResourceOption) (*network, error) {
	vpcCidr, err := netip.ParsePrefix(spec.VpcCidr)
	if err != nil {
		return nil, fmt.Errorf("vpcCidr: %w", err)
	}
	zones, err := zones(ctx, invoke)
	if err != nil {
		return nil, err
	}
	subnets, err := subnetPrefixes(vpcCidr, len(zones))
	if err != nil {
		return nil, fmt.Errorf("vpcCidr %s: %w", spec.VpcCidr, err)
	}

	vpc, err := ec2.NewVpc(ctx, spec.Name+"-vpc", &ec2.VpcArgs{
		CidrBlock:          pulumi.String(vpcCidr.String()),
		EnableDnsSupport:   pulumi.Bool(true),
		EnableDnsHostnames: pulumi.Bool(true),
		Tags:               tags(spec, spec.Name+"-vpc", ""),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("vpc: %w", err)
	}
	igw, err := ec2.NewInternetGateway(ctx, spec.Name+"-igw", &ec2.InternetGatewayArgs{
		VpcId: vpc.ID(),
		Tags:  tags(spec, spec.Name+"-igw", ""),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("internet gateway: %w", err)
	}
	rt, err := ec2.NewRouteTable(ctx, spec.Name+"-public", &ec2.RouteTableArgs{
		VpcId: vpc.ID(),
		Routes: ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{
			CidrBlock: pulumi.String("0.0.0.0/0"),
			GatewayId: igw.ID(),
		}},
		Tags: tags(spec, spec.Name+"-public", ""),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("route table: %w", err)
	}

	n := &network{vpc: vpc, zones: zones, subnets: subnets}
	for i, zone := range zones {
		name := fmt.Sprintf("%s-subnet-%d", spec.Name, i)
		subnet, err := ec2.NewSubnet(ctx, name, &ec2.SubnetArgs{
			VpcId:               vpc.ID(),
			AvailabilityZone:    pulumi.String(zone),
			CidrBlock:           pulumi.String(subnets[i].String()),
			MapPublicIpOnLaunch: pulumi.Bool(true),
			Tags:                tags(spec, name, ""),
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("subnet %s: %w", name, err)
		}
		assoc, err := ec2.NewRouteTableAssociation(ctx, name, &ec2.RouteTableAssociationArgs{
			SubnetId:     subnet.ID(),
			RouteTableId: rt.ID(),
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("route table association %s: %w", name, err)
		}
		n.subnetIDs = append(n.subnetIDs, subnet.ID())
		n.routes = append(n.routes, assoc)
	}
	return n, nil
}

// zones returns the first maxZones available zones of the region, by name.
func zones(ctx *pulumi.Context, invoke []pulumi.InvokeOption) ([]string, error) {
	available := "available"
	res, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{State: &available}, invoke...)
	if err != nil {
		return nil, fmt.Errorf("availability zones: %w", err)
	}
	if len(res.Names) == 0 {
		return nil, fmt.Errorf("availability zones: the region has none available")
	}
	names := slices.Sorted(slices.Values(res.Names))
	return names[:min(maxZones, len(names))], nil
}

// subnetPrefixes splits vpc into n subnets of four more prefix bits, in order:
// 10.21.0.0/16 gives 10.21.0.0/20, 10.21.16.0/20, 10.21.32.0/20…
func subnetPrefixes(vpc netip.Prefix, n int) ([]netip.Prefix, error) {
	const extraBits = 4
	if !vpc.Addr().Is4() {
		return nil, fmt.Errorf("want an IPv4 CIDR")
	}
	if vpc != vpc.Masked() {
		return nil, fmt.Errorf("host bits are set; want %s", vpc.Masked())
	}
	bits := vpc.Bits() + extraBits
	if bits > 28 { // AWS subnets are /16 to /28.
		return nil, fmt.Errorf("a /%d is too small to split into /%d subnets; want /24 or larger", vpc.Bits(), bits)
	}
	if n > 1<<extraBits {
		return nil, fmt.Errorf("cannot split into %d subnets", n)
	}
	size := uint32(1) << (32 - bits)
	out := make([]netip.Prefix, n)
	for i := range out {
		out[i] = netip.PrefixFrom(addAddr(vpc.Addr(), uint32(i)*size), bits)
	}
	return out, nil
}

// centralIP is central node i's private address: node i goes in subnet
// i % len(subnets), at host offset 10 + i / len(subnets). AWS reserves the
// first four addresses and the last of each subnet; offsets from 10 leave
// room below. The addresses are known before anything exists, so worker user
// data needs no central instance to be created first.
func centralIP(subnets []netip.Prefix, i int) (netip.Addr, error) {
	subnet := subnets[i%len(subnets)]
	offset := uint32(10 + i/len(subnets))
	if size := uint32(1) << (32 - subnet.Bits()); offset >= size-1 {
		return netip.Addr{}, fmt.Errorf("central node %d: subnet %s has no host offset %d", i, subnet, offset)
	}
	return addAddr(subnet.Addr(), offset), nil
}

// addAddr returns the IPv4 address n after a.
func addAddr(a netip.Addr, n uint32) netip.Addr {
	b := a.As4()
	var out [4]byte
	binary.BigEndian.PutUint32(out[:], binary.BigEndian.Uint32(b[:])+n)
	return netip.AddrFrom4(out)
}
