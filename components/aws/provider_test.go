package aws_test

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/components/aws"
	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/components/cloud/cloudtest"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const (
	typeProvider = "pulumi:providers:aws"
	typeVpc      = "aws:ec2/vpc:Vpc"
	typeSubnet   = "aws:ec2/subnet:Subnet"
	typeIGW      = "aws:ec2/internetGateway:InternetGateway"
	typeRT       = "aws:ec2/routeTable:RouteTable"
	typeRTA      = "aws:ec2/routeTableAssociation:RouteTableAssociation"
	typeSG       = "aws:ec2/securityGroup:SecurityGroup"
	typeInstance = "aws:ec2/instance:Instance"
	typeLT       = "aws:ec2/launchTemplate:LaunchTemplate"
	typeASG      = "aws:autoscaling/group:Group"
	typeVolume   = "aws:ebs/volume:Volume"
	typeAttach   = "aws:ec2/volumeAttachment:VolumeAttachment"
)

// testSpec is a cluster called c1 with central and worker nodes, SSH open
// to a documentation range and one tag of the operator's, in the region the
// AWS provider is configured for.
func testSpec(central, workers int) cloud.Spec {
	s := cloudtest.Spec(aws.New(), "c1", "", central, workers)
	s.SSHAllowedCidrs = []string{"198.51.100.0/24"}
	s.Tags = map[string]string{"team": "platform"}
	return s
}

// provision runs the AWS backend on spec under the mocks m.
func provision(t *testing.T, m *pulumitest.Mocks, spec cloud.Spec) cloudtest.Result {
	t.Helper()
	return cloudtest.Provision(t, m, aws.New(), spec)
}

func TestProvisionResources(t *testing.T) {
	tests := []struct {
		central, workers int
		zones            []string
		wantSubnets      int
		wantPrivate      []string
	}{
		{3, 2, []string{"us-east-2a", "us-east-2b", "us-east-2c"}, 3,
			[]string{"10.21.0.10", "10.21.16.10", "10.21.32.10"}},
		{5, 0, []string{"us-east-2a", "us-east-2b", "us-east-2c"}, 3,
			[]string{"10.21.0.10", "10.21.16.10", "10.21.32.10", "10.21.0.11", "10.21.16.11"}},
		{3, 4, []string{"us-east-1a"}, 1,
			[]string{"10.21.0.10", "10.21.0.11", "10.21.0.12"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dc%dw%dz", tt.central, tt.workers, len(tt.zones)), func(t *testing.T) {
			m := pulumitest.New()
			m.Zones = tt.zones
			got := provision(t, m, testSpec(tt.central, tt.workers))

			counts := map[string]int{}
			for _, r := range m.Resources() {
				counts[r.Type]++
			}
			want := map[string]int{
				cloudtest.ParentType: 1,
				typeVpc:              1,
				typeSubnet:           tt.wantSubnets,
				typeIGW:              1,
				typeRT:               1,
				typeRTA:              tt.wantSubnets,
				typeSG:               2,
				typeInstance:         tt.central,
				typeVolume:           tt.central,
				typeAttach:           tt.central,
				typeLT:               1,
				typeASG:              1,
			}
			if fmt.Sprint(counts) != fmt.Sprint(want) {
				t.Errorf("resource counts = %v\nwant %v", counts, want)
			}
			if !slices.Equal(got.PrivateIPs, tt.wantPrivate) {
				t.Errorf("CentralPrivateIPs = %v, want %v", got.PrivateIPs, tt.wantPrivate)
			}
			if n := len(got.PublicIPs); n != tt.central {
				t.Errorf("CentralPublicIPs has %d, want %d", n, tt.central)
			}
			if got.WorkerGroup != "c1-worker" {
				t.Errorf("WorkerGroup = %v, want c1-worker", got.WorkerGroup)
			}
			network := got.Network
			for _, k := range []string{"vpcId", "subnetIds", "centralSecurityGroupId", "workerSecurityGroupId", "launchTemplateId"} {
				if _, ok := network[k]; !ok {
					t.Errorf("Network lacks %s: %v", k, network)
				}
			}
			if n := len(network["subnetIds"].([]string)); n != tt.wantSubnets {
				t.Errorf("Network subnetIds has %d, want %d", n, tt.wantSubnets)
			}
		})
	}
}

func TestProvisionParentsAndTags(t *testing.T) {
	m := pulumitest.New()
	provision(t, m, testSpec(3, 2))
	var tagged int
	for _, r := range m.Resources() {
		if r.Type == cloudtest.ParentType {
			continue
		}
		if !strings.HasSuffix(r.Parent, "::c1") {
			t.Errorf("%s %s: parent %q, want the component", r.Type, r.Name, r.Parent)
		}
		if !r.Inputs.HasValue("tags") {
			continue
		}
		tagged++
		tags := r.Inputs["tags"]
		if r.Type == typeASG {
			tags = asgTags(t, r)
		}
		tm := tags.ObjectValue()
		for k, v := range map[string]string{"team": "platform", "isolated-etcd:cluster": "c1", "Name": r.Name} {
			if got := tm[resource.PropertyKey(k)]; !got.IsString() || got.StringValue() != v {
				t.Errorf("%s %s: tag %s = %v, want %s", r.Type, r.Name, k, got, v)
			}
		}
		role := map[string]string{typeInstance: "central", typeVolume: "central", typeLT: "worker", typeASG: "worker"}[r.Type]
		if r.Type == typeSG {
			role = strings.TrimPrefix(r.Name, "c1-")
		}
		if got := tm["isolated-etcd:role"]; role != "" && (!got.IsString() || got.StringValue() != role) {
			t.Errorf("%s %s: role tag = %v, want %s", r.Type, r.Name, got, role)
		}
	}
	if tagged != len(m.Resources())-1-3-3 { // all but component, route table and volume associations
		t.Errorf("%d resources tagged, want all taggable ones", tagged)
	}
}

// asgTags turns the group's tag list into a map, checking each propagates.
func asgTags(t *testing.T, r pulumitest.Resource) resource.PropertyValue {
	t.Helper()
	out := resource.PropertyMap{}
	for _, tag := range r.Inputs["tags"].ArrayValue() {
		o := tag.ObjectValue()
		if !o["propagateAtLaunch"].BoolValue() {
			t.Errorf("group tag %v does not propagate at launch", o["key"])
		}
		out[resource.PropertyKey(o["key"].StringValue())] = o["value"]
	}
	return resource.NewObjectProperty(out)
}

func TestCentralInstances(t *testing.T) {
	tests := []struct {
		name       string
		os         cloud.OS
		image      pulumi.StringInput
		wantTokens string
		wantAMI    string
	}{
		{"flatcar", cloud.Flatcar, nil, "required", pulumitest.New().AMI},
		{"container-linux", cloud.ContainerLinux, pulumi.String("ami-0badc0de"), "optional", "ami-0badc0de"},
		{"image from an output", cloud.Flatcar, pulumi.String("ami-0fedcba9876543210").ToStringOutput(), "required", "ami-0fedcba9876543210"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := pulumitest.New()
			spec := testSpec(3, 2)
			spec.OS, spec.Image = tt.os, tt.image
			provision(t, m, spec)
			if n := len(m.OfType(typeInstance)); n != len(spec.Central) {
				t.Errorf("%d instances, want %d", n, len(spec.Central))
			}
			// Every central node's user data is rendered from all the fixed
			// addresses, known before any instance exists.
			var fixed []string
			for _, node := range spec.Central {
				r, _ := m.Named(node.Name)
				fixed = append(fixed, r.Inputs["privateIp"].StringValue())
			}
			for i, node := range spec.Central {
				name := node.Name
				r, ok := m.Named(name)
				if !ok || r.Type != typeInstance {
					t.Fatalf("no instance %s", name)
				}
				in := r.Inputs
				if got, err := r.UserData(); err != nil || got != cloudtest.CentralText(i, fixed) {
					t.Errorf("%s user data = %q, %v, want %q", r.Name, got, err, cloudtest.CentralText(i, fixed))
				}
				if got := in["ami"].StringValue(); got != tt.wantAMI {
					t.Errorf("%s ami = %s, want %s", r.Name, got, tt.wantAMI)
				}
				if got := in["instanceType"].StringValue(); got != "t3.medium" {
					t.Errorf("%s instanceType = %s", r.Name, got)
				}
				if got := in["subnetId"].StringValue(); got != fmt.Sprintf("c1-subnet-%d-id", i) {
					t.Errorf("%s subnetId = %s", r.Name, got)
				}
				md := in["metadataOptions"].ObjectValue()
				if md["httpEndpoint"].StringValue() != "enabled" || md["httpTokens"].StringValue() != tt.wantTokens || md["httpPutResponseHopLimit"].NumberValue() != 1 {
					t.Errorf("%s metadataOptions = %v, want enabled/%s, hop limit 1", r.Name, md, tt.wantTokens)
				}
				root := in["rootBlockDevice"].ObjectValue()
				if !root["encrypted"].BoolValue() || !root["deleteOnTermination"].BoolValue() || root["volumeType"].StringValue() != "gp3" {
					t.Errorf("%s rootBlockDevice = %v, want encrypted gp3 deleted on termination", r.Name, root)
				}
				sgs := in["vpcSecurityGroupIds"].ArrayValue()
				if len(sgs) != 1 || sgs[0].StringValue() != "c1-central-id" {
					t.Errorf("%s vpcSecurityGroupIds = %v, want the central group", r.Name, sgs)
				}
				if !slices.Equal(r.IgnoreChanges, []string{"ami", "userData", "userDataBase64", "instanceType"}) {
					t.Errorf("%s ignoreChanges = %v, want ami, both user data keys and instanceType", r.Name, r.IgnoreChanges)
				}
			}

			lt := m.OfType(typeLT)[0]
			md := lt.Inputs["metadataOptions"].ObjectValue()
			if md["httpEndpoint"].StringValue() != "enabled" || md["httpTokens"].StringValue() != tt.wantTokens || md["httpPutResponseHopLimit"].NumberValue() != 1 {
				t.Errorf("launch template metadataOptions = %v, want enabled/%s, hop limit 1", md, tt.wantTokens)
			}
			if got := lt.Inputs["imageId"].StringValue(); got != tt.wantAMI {
				t.Errorf("launch template imageId = %s, want %s", got, tt.wantAMI)
			}
		})
	}
}

func TestWorkers(t *testing.T) {
	for _, workers := range []int{0, 2, 50} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			m := pulumitest.New()
			provision(t, m, testSpec(3, workers))

			lt := m.OfType(typeLT)[0]
			raw, err := lt.UserData()
			if err != nil {
				t.Fatal(err)
			}
			if want := cloudtest.WorkerText([]string{"10.21.0.10", "10.21.16.10", "10.21.32.10"}); raw != want {
				t.Errorf("worker user data = %q, want %q", raw, want)
			}
			if got := lt.Inputs["instanceType"].StringValue(); got != "t3.large" {
				t.Errorf("launch template instanceType = %s", got)
			}
			bdm := lt.Inputs["blockDeviceMappings"].ArrayValue()
			if len(bdm) != 1 {
				t.Fatalf("blockDeviceMappings = %v", bdm)
			}
			ebs := bdm[0].ObjectValue()["ebs"].ObjectValue()
			if bdm[0].ObjectValue()["deviceName"].StringValue() != "/dev/xvda" || ebs["encrypted"].StringValue() != "true" || ebs["volumeType"].StringValue() != "gp3" {
				t.Errorf("blockDeviceMappings = %v, want encrypted gp3 root", bdm)
			}
			var specTypes []string
			for _, ts := range lt.Inputs["tagSpecifications"].ArrayValue() {
				specTypes = append(specTypes, ts.ObjectValue()["resourceType"].StringValue())
			}
			if !slices.Equal(specTypes, []string{"instance", "volume"}) {
				t.Errorf("tagSpecifications for %v, want instance and volume", specTypes)
			}

			asg := m.OfType(typeASG)[0]
			for _, k := range []resource.PropertyKey{"minSize", "maxSize", "desiredCapacity"} {
				if got := asg.Inputs[k].NumberValue(); got != float64(workers) {
					t.Errorf("group %s = %v, want %d", k, got, workers)
				}
			}
			if got := asg.Inputs["vpcZoneIdentifiers"].ArrayValue(); len(got) != 3 {
				t.Errorf("group vpcZoneIdentifiers = %v, want the 3 subnets", got)
			}
			ltRef := asg.Inputs["launchTemplate"].ObjectValue()
			if ltRef["id"].StringValue() != lt.Name+"-id" || ltRef["version"].StringValue() != "1" {
				t.Errorf("group launchTemplate = %v, want the template at its latest version", ltRef)
			}
			if got := asg.Inputs["healthCheckType"].StringValue(); got != "EC2" {
				t.Errorf("group healthCheckType = %s", got)
			}
		})
	}
}

func TestZonesSortedAndCapped(t *testing.T) {
	m := pulumitest.New()
	m.Zones = []string{"us-east-1d", "us-east-1a", "us-east-1f", "us-east-1c", "us-east-1b"}
	provision(t, m, testSpec(3, 0))
	if n := len(m.OfType(typeSubnet)); n != 3 {
		t.Errorf("%d subnets, want 3", n)
	}
	var got []string
	for i := range 3 {
		r, _ := m.Named(fmt.Sprintf("c1-subnet-%d", i))
		got = append(got, r.Inputs["availabilityZone"].StringValue()+"="+r.Inputs["cidrBlock"].StringValue())
	}
	want := []string{"us-east-1a=10.21.0.0/20", "us-east-1b=10.21.16.0/20", "us-east-1c=10.21.32.0/20"}
	if !slices.Equal(got, want) {
		t.Errorf("subnets = %v, want %v", got, want)
	}
	for _, r := range m.OfType(typeSubnet) {
		if !r.Inputs["mapPublicIpOnLaunch"].BoolValue() {
			t.Errorf("%s does not map public IPs on launch", r.Name)
		}
	}
}

func TestSecurityGroups(t *testing.T) {
	tests := []struct {
		name    string
		ssh     []string
		wantSSH bool
	}{
		{"ssh", []string{"198.51.100.0/24", "203.0.113.7/32"}, true},
		{"no ssh", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := pulumitest.New()
			spec := testSpec(3, 2)
			spec.SSHAllowedCidrs = tt.ssh
			provision(t, m, spec)

			for _, sg := range m.OfType(typeSG) {
				var ssh int
				for _, rule := range arrayOf(sg.Inputs["ingress"]) {
					o := rule.ObjectValue()
					from, to := o["fromPort"].NumberValue(), o["toPort"].NumberValue()
					if !o.HasValue("description") {
						t.Errorf("%s: rule %v has no description", sg.Name, o)
					}
					for _, port := range []float64{2379, 2380} {
						if o["protocol"].StringValue() == "-1" || from <= port && port <= to {
							if o.HasValue("cidrBlocks") || o.HasValue("ipv6CidrBlocks") {
								t.Errorf("%s: port %v open to CIDRs: %v", sg.Name, port, o)
							}
						}
					}
					if from == 22 {
						ssh++
						if got := stringsOf(o["cidrBlocks"]); !slices.Equal(got, tt.ssh) {
							t.Errorf("%s: SSH from %v, want %v", sg.Name, got, tt.ssh)
						}
					}
				}
				if want := map[bool]int{true: 1}[tt.wantSSH]; ssh != want {
					t.Errorf("%s: %d SSH rules, want %d", sg.Name, ssh, want)
				}
			}

			central, _ := m.Named("c1-central")
			var got []string
			for _, rule := range central.Inputs["ingress"].ArrayValue() {
				o := rule.ObjectValue()
				if o["fromPort"].NumberValue() == 22 {
					continue
				}
				src := "self"
				if o.HasValue("securityGroups") {
					src = strings.Join(stringsOf(o["securityGroups"]), ",")
				} else if !o["self"].BoolValue() {
					src = "?"
				}
				got = append(got, fmt.Sprintf("%v<-%s", o["fromPort"].NumberValue(), src))
			}
			want := []string{"2379<-self", "2379<-c1-worker-id", "2380<-self"}
			if !slices.Equal(got, want) {
				t.Errorf("central etcd ingress = %v, want %v", got, want)
			}
		})
	}
}

func TestProvisionRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*cloud.Spec)
		want string
	}{
		{"small vpc", func(s *cloud.Spec) { s.VpcCidr = "10.21.0.0/26" }, "vpcCidr"},
		{"bad vpc", func(s *cloud.Spec) { s.VpcCidr = "10.21.0.0" }, "vpcCidr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testSpec(3, 2)
			tt.edit(&spec)
			err := pulumitest.New().Run(func(ctx *pulumi.Context) error {
				_, err := aws.New().Provision(ctx, spec)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Provision error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	p := aws.New()
	tests := []struct {
		check func(string) error
		value string
		want  string // substring of the error; empty means valid
	}{
		{p.CheckRegion, "us-east-1", ""},
		{p.CheckRegion, "eu-central-2", ""},
		{p.CheckRegion, "us-gov-west-1", ""},
		{p.CheckRegion, "ap-southeast-4", ""},
		{p.CheckRegion, "us-isob-east-1", ""},
		{p.CheckRegion, "", ""}, // the AWS provider's own region
		{p.CheckRegion, "useast1", `region: "useast1" is not an AWS region; want a region name such as us-east-1, or unset to use aws:region`},
		{p.CheckRegion, "us-east-1a", `region: "us-east-1a" is not an AWS region`},
		{p.CheckRegion, "US-EAST-1", `region: "US-EAST-1"`},
		{p.CheckRegion, "nyc3", `region: "nyc3"`},
		{p.CheckImage, "ami-0badc0de", ""},
		{p.CheckImage, "ami-0123456789abcdef0", ""},
		{p.CheckImage, "", `image: "" is not an AMI id`},
		{p.CheckImage, "flatcar-stable", `image: "flatcar-stable" is not an AMI id`},
		{p.CheckImage, "ami-123", `image: "ami-123"`},
		{p.CheckImage, "ami-0123456789ABCDEF0", `image: "ami-0123456789ABCDEF0"`},
		{p.CheckImage, "ami-0123456789abcdef", `image: "ami-0123456789abcdef"`},
	}
	for _, tt := range tests {
		err := tt.check(tt.value)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("check(%q) = %v, want nil", tt.value, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("check(%q) = %v, want an error containing %q", tt.value, err, tt.want)
		}
	}
}

func TestDefaultSizes(t *testing.T) {
	if c, w := aws.New().DefaultSizes(); c != "t3.medium" || w != "t3.large" {
		t.Errorf("DefaultSizes() = %s, %s", c, w)
	}
}

// arrayOf is v's elements, or none when v is absent.
func arrayOf(v resource.PropertyValue) []resource.PropertyValue {
	if !v.IsArray() {
		return nil
	}
	return v.ArrayValue()
}

func stringsOf(v resource.PropertyValue) []string {
	var out []string
	for _, e := range arrayOf(v) {
		out = append(out, e.StringValue())
	}
	return out
}

// TestProviderPerRegion: unpinned, the cluster goes through the default AWS
// provider, which takes aws:region and every other aws: setting from the
// stack; pinned by the stack's region key, through a provider of its own.
func TestProviderPerRegion(t *testing.T) {
	for _, tc := range []struct {
		region       string
		wantProvider string // the reference's name part; "" is the default provider
	}{
		{"", ""},
		{"eu-west-1", "c1-aws"},
	} {
		t.Run(cmp.Or(tc.region, "default"), func(t *testing.T) {
			m := pulumitest.New()
			spec := testSpec(3, 2)
			spec.Region = tc.region
			provision(t, m, spec)

			providers := m.OfType(typeProvider)
			if tc.wantProvider == "" && len(providers) != 0 || tc.wantProvider != "" && len(providers) != 1 {
				t.Fatalf("%d AWS providers registered, want them only when the region is pinned", len(providers))
			}
			for _, p := range providers {
				if p.Name != tc.wantProvider || pulumitest.String(p.Inputs["region"]) != tc.region || !strings.HasSuffix(p.Parent, "::c1") {
					t.Errorf("provider %s in %v under %s, want %s in %s under the component", p.Name, p.Inputs["region"], p.Parent, tc.wantProvider, tc.region)
				}
			}
			refers := func(ref string) bool {
				if tc.wantProvider == "" {
					return ref == ""
				}
				return strings.Contains(ref, "::"+tc.wantProvider+"::")
			}
			for _, r := range m.Resources() {
				if r.Custom && r.Type != typeProvider && !refers(r.Provider) {
					t.Errorf("%s %s: provider %q, want %q", r.Type, r.Name, r.Provider, tc.wantProvider)
				}
			}
			invokes := m.Invokes()
			if len(invokes) != 2 { // zones and the Flatcar AMI
				t.Errorf("invokes %v, want the zones and the AMI lookup", invokes)
			}
			for _, i := range invokes {
				if !refers(i.Provider) {
					t.Errorf("invoke %s: provider %q, want %q", i.Token, i.Provider, tc.wantProvider)
				}
			}
		})
	}
}

// TestRegion: a pinned region is the cluster's; otherwise the default
// provider's, asked through getRegion and checked like the stack's.
func TestRegion(t *testing.T) {
	for _, tc := range []struct {
		name, pinned, configured string
		want, wantErr            string
		wantInvokes              int
	}{
		{"pinned", "eu-west-1", "us-east-2", "eu-west-1", "", 0},
		{"aws:region", "", "ap-southeast-2", "ap-southeast-2", "", 1},
		{"no region anywhere", "", "", "", "aws:region: the AWS provider cannot say which region it is in; set aws:region", 1},
		{"not an AWS region", "", "nyc3", "", `aws:region: "nyc3", the AWS provider's region, is not an AWS region`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := pulumitest.New()
			m.Cloud = m.In(tc.configured)
			var got string
			err := m.Run(func(ctx *pulumi.Context) error {
				var err error
				got, err = aws.New().Region(ctx, tc.pinned)
				return err
			})
			switch {
			case tc.wantErr == "" && (err != nil || got != tc.want):
				t.Errorf("Region(%q) = %q, %v; want %q", tc.pinned, got, err, tc.want)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Region(%q) = %q, %v; want an error containing %q", tc.pinned, got, err, tc.wantErr)
			}
			var asked int
			for _, i := range m.Invokes() {
				if i.Token == "aws:index/getRegion:getRegion" && i.Provider == "" {
					asked++
				}
			}
			if asked != tc.wantInvokes || len(m.Resources()) != 0 {
				t.Errorf("asked the default provider %d times and registered %d resources, want %d and none", asked, len(m.Resources()), tc.wantInvokes)
			}
		})
	}
}

// TestUserDataLimit: user data over EC2's 16 KiB (before base64) goes
// compacted (here as a cloud-config is, gzipped), and reads back as
// rendered; the run fails with the machine's name when EC2 would refuse it
// still, or when nothing compacts it. Under the limit it goes as rendered,
// so stacks made before compaction keep their bytes. Central instance and
// the workers' launch template alike.
func TestUserDataLimit(t *testing.T) {
	small := strings.Repeat("#", 16<<10)
	// A cloud-config is text: it gzips to well under half.
	compressible := strings.Repeat("write_files: [etcd]\n", 2000)
	random := make([]byte, 24<<10)
	if _, err := rand.NewChaCha8([32]byte{}).Read(random); err != nil {
		t.Fatal(err)
	}
	incompressible := base64.StdEncoding.EncodeToString(random)
	compacted, err := cloudconfig.Compact(incompressible)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, text  string
		compactable bool
		gzipped     bool
		wantErr     string
	}{
		{"at the limit", small, true, false, ""},
		{"over, compacted", compressible, true, true, ""},
		{"over, no compaction", compressible, false, false, fmt.Sprintf("%d bytes, and EC2 takes at most 16384", len(compressible))},
		{"over even compacted", incompressible, true, false, fmt.Sprintf("%d bytes, %d compacted, and EC2 takes at most 16384", len(incompressible), len(compacted))},
	} {
		for _, machine := range []struct {
			name, typ string
			swell     func(*cloud.Spec, string)
		}{
			{"c1-central-1", typeInstance, func(s *cloud.Spec, text string) {
				render := s.CentralUserData
				s.CentralUserData = func(hosts []string, st *cloud.Store) ([]pulumi.StringOutput, error) {
					out, err := render(hosts, st)
					out[1] = pulumi.String(text).ToStringOutput()
					return out, err
				}
			}},
			{"c1-worker", typeLT, func(s *cloud.Spec, text string) {
				s.WorkerUserData = func(pulumi.StringArrayOutput) pulumi.StringOutput { return pulumi.String(text).ToStringOutput() }
			}},
		} {
			t.Run(tc.name+"/"+machine.name, func(t *testing.T) {
				spec := testSpec(3, 1)
				if tc.compactable {
					spec.CompactUserData = cloudconfig.Compact
				}
				machine.swell(&spec, tc.text)
				m := pulumitest.New()
				err := m.Run(func(ctx *pulumi.Context) error {
					_, err := aws.New().Provision(ctx, spec)
					return err
				})
				if tc.wantErr != "" {
					if want := "user data of " + machine.name + ": " + tc.wantErr; err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("err = %v, want %q", err, want)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				i := slices.IndexFunc(m.OfType(machine.typ), func(r pulumitest.Resource) bool { return r.Name == machine.name })
				if i < 0 {
					t.Fatalf("no %s %s", machine.typ, machine.name)
				}
				r := m.OfType(machine.typ)[i]
				encoded := pulumitest.String(r.Inputs["userDataBase64"]) + pulumitest.String(r.Inputs["userData"])
				raw, err := base64.StdEncoding.DecodeString(encoded)
				if err != nil {
					t.Fatal(err)
				}
				if gz := bytes.HasPrefix(raw, []byte{0x1f, 0x8b}); gz != tc.gzipped || len(raw) > 16<<10 {
					t.Errorf("%s sends %d bytes, gzipped %v, want gzipped %v and at most 16384", machine.name, len(raw), gz, tc.gzipped)
				}
				if got, err := r.UserData(); err != nil || got != tc.text {
					t.Errorf("%s reads back %d bytes, %v; want the %d rendered", machine.name, len(got), err, len(tc.text))
				}
			})
		}
	}
}
