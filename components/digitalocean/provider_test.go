package digitalocean_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/components/cloud/cloudtest"
	"github.com/isolatedetcd/cluster/components/digitalocean"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const (
	tagType      = "digitalocean:index/tag:Tag"
	vpcType      = "digitalocean:index/vpc:Vpc"
	imageType    = "digitalocean:index/customImage:CustomImage"
	firewallType = "digitalocean:index/firewall:Firewall"
	dropletType  = "digitalocean:index/droplet:Droplet"
	volumeType   = "digitalocean:index/volume:Volume"
)

// newSpec is a cluster called etcd in nyc3 with central and worker nodes,
// workers smaller than central nodes, and tags that need sanitising.
func newSpec(central, workers int) cloud.Spec {
	s := cloudtest.Spec(digitalocean.New(), "etcd", "nyc3", central, workers)
	s.WorkerSize = "s-1vcpu-2gb"
	s.Tags = map[string]string{"env": "dev", "owner": "ops team"}
	return s
}

// provision runs the DigitalOcean backend on spec under fresh mocks.
func provision(t *testing.T, spec cloud.Spec) (*pulumitest.Mocks, cloudtest.Result) {
	t.Helper()
	m := pulumitest.New()
	return m, cloudtest.Provision(t, m, digitalocean.New(), spec)
}

func str(r pulumitest.Resource, key string) string {
	v := r.Inputs[resource.PropertyKey(key)]
	if !v.IsString() {
		return fmt.Sprintf("<%s: %v>", key, v)
	}
	return v.StringValue()
}

func strs(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// droplets returns the central droplets in spec order and the workers by
// index; registration order is not program order under the engine.
func droplets(t *testing.T, m *pulumitest.Mocks, spec cloud.Spec) (central, workers []pulumitest.Resource) {
	t.Helper()
	for _, node := range spec.Central {
		name := node.Name
		central = append(central, named(t, m, name))
	}
	for i := range spec.WorkerCount {
		workers = append(workers, named(t, m, fmt.Sprintf("%s-worker-%d", spec.Name, i)))
	}
	if n := len(m.OfType(dropletType)); n != len(central)+len(workers) {
		t.Errorf("%d droplets, want %d central and %d workers", n, len(central), len(workers))
	}
	return central, workers
}

func named(t *testing.T, m *pulumitest.Mocks, name string) pulumitest.Resource {
	t.Helper()
	r, ok := m.Named(name)
	if !ok {
		t.Fatalf("no resource %s", name)
	}
	return r
}

func TestProvisionRegistersResources(t *testing.T) {
	for _, tc := range []struct {
		central, workers int
		image            string
		want             map[string]int
	}{
		{3, 2, "", map[string]int{tagType: 5, vpcType: 1, imageType: 1, firewallType: 2, dropletType: 5, volumeType: 3}},
		{1, 0, "", map[string]int{tagType: 5, vpcType: 1, imageType: 1, firewallType: 2, dropletType: 1, volumeType: 1}},
		{3, 2, "flatcar-stable-4459", map[string]int{tagType: 5, vpcType: 1, firewallType: 2, dropletType: 5, volumeType: 3}},
	} {
		t.Run(fmt.Sprintf("%dc%dw%s", tc.central, tc.workers, tc.image), func(t *testing.T) {
			spec := newSpec(tc.central, tc.workers)
			if tc.image != "" {
				spec.Image = pulumi.String(tc.image)
			}
			m, out := provision(t, spec)
			got := map[string]int{}
			for _, r := range m.Resources() {
				if !strings.HasPrefix(r.Type, "digitalocean:") {
					continue
				}
				got[r.Type]++
				if r.Parent != out.ParentURN {
					t.Errorf("%s %s: parent %q, want %q", r.Type, r.Name, r.Parent, out.ParentURN)
				}
				if !strings.HasPrefix(r.Name, "etcd") {
					t.Errorf("%s %s: name not prefixed with the cluster name", r.Type, r.Name)
				}
			}
			for typ, n := range tc.want {
				if got[typ] != n {
					t.Errorf("%s: %d registered, want %d", typ, got[typ], n)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("types registered: %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTags(t *testing.T) {
	spec := newSpec(3, 2)
	m, _ := provision(t, spec)
	var names []string
	for _, r := range m.OfType(tagType) {
		names = append(names, str(r, "name"))
	}
	want := []string{"env:dev", "etcd", "etcd-central", "etcd-worker", "owner:ops-team"}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Errorf("tags %v, want %v", names, want)
	}
	central, workers := droplets(t, m, spec)
	for _, tc := range []struct {
		role     string
		droplets []pulumitest.Resource
	}{{"etcd-central", central}, {"etcd-worker", workers}} {
		for _, d := range tc.droplets {
			got := strs(d.Inputs["tags"].Mappable())
			if want := []string{"etcd", tc.role, "env:dev", "owner:ops-team"}; !slices.Equal(got, want) {
				t.Errorf("%s tags %v, want %v", d.Name, got, want)
			}
		}
	}
}

func TestCentralDroplets(t *testing.T) {
	spec := newSpec(3, 2)
	m, _ := provision(t, spec)
	central, _ := droplets(t, m, spec)
	for i, d := range central {
		want := map[string]string{
			"name":     spec.Central[i].Name,
			"userData": cloudtest.CentralText(i, nil),
			"region":   "nyc3",
			"size":     "s-2vcpu-4gb",
			"vpcUuid":  "etcd-vpc-id",
		}
		for k, v := range want {
			if got := str(d, k); got != v {
				t.Errorf("%s: %s = %q, want %q", d.Name, k, got, v)
			}
		}
		for _, k := range []resource.PropertyKey{"monitoring", "ipv6"} {
			if v := d.Inputs[k]; !v.IsBool() || v.BoolValue() {
				t.Errorf("%s: %s = %v, want false", d.Name, k, v)
			}
		}
		if !slices.Equal(d.IgnoreChanges, []string{"image", "userData", "size"}) {
			t.Errorf("%s: ignoreChanges %v, want [image userData size]", d.Name, d.IgnoreChanges)
		}
		// A roll's delete shuts the member down first.
		if v := d.Inputs["gracefulShutdown"]; !v.IsBool() || !v.BoolValue() {
			t.Errorf("%s: gracefulShutdown = %v, want true", d.Name, v)
		}
	}
}

func TestWorkerDroplets(t *testing.T) {
	spec := newSpec(3, 2)
	calls := 0
	render := spec.WorkerUserData
	spec.WorkerUserData = func(ips pulumi.StringArrayOutput) pulumi.StringOutput {
		calls++
		return render(ips)
	}
	m, out := provision(t, spec)
	if calls != 1 {
		t.Errorf("WorkerUserData called %d times, want once", calls)
	}
	central, workers := droplets(t, m, spec)
	var ips []string
	for _, d := range central {
		ips = append(ips, d.Outputs["ipv4AddressPrivate"].StringValue())
	}
	if !slices.Equal(out.PrivateIPs, ips) {
		t.Errorf("CentralPrivateIPs %v, want %v", out.PrivateIPs, ips)
	}
	want := cloudtest.WorkerText(ips)
	if !strings.Contains(want, "10.21.") {
		t.Fatalf("mock private IPs %v are not in the VPC", ips)
	}
	for _, d := range workers {
		if got := str(d, "name"); got != d.Name {
			t.Errorf("%s: droplet name %q", d.Name, got)
		}
		if got := str(d, "userData"); got != want {
			t.Errorf("%s: userData %q, want %q", d.Name, got, want)
		}
		if got := str(d, "size"); got != "s-1vcpu-2gb" {
			t.Errorf("%s: size %q, want s-1vcpu-2gb", d.Name, got)
		}
		if len(d.IgnoreChanges) != 0 {
			t.Errorf("%s: ignoreChanges %v, want none", d.Name, d.IgnoreChanges)
		}
	}
}

func TestNoWorkers(t *testing.T) {
	spec := newSpec(1, 0)
	m, out := provision(t, spec)
	droplets(t, m, spec)
	if out.WorkerGroup != "etcd-worker" {
		t.Errorf("WorkerGroup %q, want etcd-worker", out.WorkerGroup)
	}
}

func TestImage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		image  pulumi.StringInput
		want   string
		custom bool
	}{
		{name: "flatcar", custom: true},
		{name: "id", image: pulumi.String("123456789"), want: "123456789"},
		{name: "slug", image: pulumi.String("flatcar-stable-4459"), want: "flatcar-stable-4459"},
		{name: "from an output", image: pulumi.String("214201456").ToStringOutput(), want: "214201456"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := newSpec(3, 2)
			spec.Image = tc.image
			m, out := provision(t, spec)
			images := m.OfType(imageType)
			if tc.custom != (len(images) == 1) || len(images) > 1 {
				t.Fatalf("%d custom images, want custom=%v", len(images), tc.custom)
			}
			want := tc.want
			if tc.custom {
				img := images[0]
				want = strconv.Itoa(int(img.Outputs["imageId"].NumberValue()))
				if got := str(img, "url"); got != "https://stable.release.flatcar-linux.net/amd64-usr/current/flatcar_production_digitalocean_image.bin.bz2" {
					t.Errorf("url %q", got)
				}
				if got := str(img, "distribution"); got != "CoreOS" {
					t.Errorf("distribution %q, want CoreOS", got)
				}
				if got := strs(img.Inputs["regions"].Mappable()); !slices.Equal(got, []string{"nyc3"}) {
					t.Errorf("regions %v, want [nyc3]", got)
				}
				if got := str(img, "description"); !strings.Contains(got, "Flatcar") || !strings.Contains(got, "stable") {
					t.Errorf("description %q does not name Flatcar stable", got)
				}
			}
			if got, ok := out.Network["imageId"]; ok != tc.custom || (ok && got != want) {
				t.Errorf("network imageId = %v (present %v), want %q when custom", got, ok, want)
			}
			for _, d := range m.OfType(dropletType) {
				if got := str(d, "image"); got != want {
					t.Errorf("%s: image %q, want %q", d.Name, got, want)
				}
			}
		})
	}
}

func TestClusterOutputs(t *testing.T) {
	spec := newSpec(3, 2)
	m, out := provision(t, spec)
	central, _ := droplets(t, m, spec)
	var public []string
	for _, d := range central {
		public = append(public, d.Outputs["ipv4Address"].StringValue())
	}
	if !slices.Equal(out.PublicIPs, public) {
		t.Errorf("CentralPublicIPs %v, want %v", out.PublicIPs, public)
	}
	if len(out.PrivateIPs) != 3 {
		t.Errorf("CentralPrivateIPs %v, want 3", out.PrivateIPs)
	}
	want := map[string]string{
		"vpcId":             "etcd-vpc-id",
		"centralFirewallId": "etcd-central-firewall-id",
		"workerFirewallId":  "etcd-worker-firewall-id",
		"imageId":           strconv.Itoa(int(m.OfType(imageType)[0].Outputs["imageId"].NumberValue())),
	}
	for k, v := range want {
		if fmt.Sprint(out.Network[k]) != v {
			t.Errorf("network[%s] = %v, want %v", k, out.Network[k], v)
		}
	}
	if len(out.Network) != len(want) {
		t.Errorf("network %v, want keys of %v", out.Network, want)
	}
	if out.WorkerGroup != "etcd-worker" {
		t.Errorf("WorkerGroup %q, want etcd-worker", out.WorkerGroup)
	}
	vpc := m.OfType(vpcType)[0]
	if str(vpc, "region") != "nyc3" || str(vpc, "ipRange") != "10.21.0.0/16" {
		t.Errorf("vpc region %q ipRange %q", str(vpc, "region"), str(vpc, "ipRange"))
	}
}

func TestCheck(t *testing.T) {
	p := digitalocean.New()
	for _, tc := range []struct {
		check func(string) error
		value string
		err   string
	}{
		{check: p.CheckRegion, value: "nyc3"},
		{check: p.CheckRegion, value: "fra1"},
		{check: p.CheckRegion, value: "", err: "region: required on DigitalOcean, whose provider has no region setting"},
		{check: p.CheckRegion, value: "us-east-1", err: `region: "us-east-1" is not a DigitalOcean region; want a slug such as nyc3`},
		{check: p.CheckRegion, value: "NYC3", err: `region: "NYC3" is not a DigitalOcean region`},
		{check: p.CheckRegion, value: "nyc", err: `region: "nyc" is not a DigitalOcean region`},
		{check: p.CheckImage, value: "ubuntu-24-04-x64"},
		{check: p.CheckImage, value: "123456789"},
		{check: p.CheckImage, value: "flatcar-stable-4459.2.1"},
		{check: p.CheckImage, value: "", err: `image: "" is not a DigitalOcean image`},
		{check: p.CheckImage, value: "Flatcar Stable", err: `image: "Flatcar Stable" is not a DigitalOcean image; want an image slug`},
		{check: p.CheckImage, value: "-flatcar", err: `image: "-flatcar" is not a DigitalOcean image`},
		{check: p.CheckImage, value: "flatcar_stable", err: `image: "flatcar_stable" is not a DigitalOcean image`},
	} {
		t.Run(tc.value, func(t *testing.T) {
			err := tc.check(tc.value)
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("Check: %v, want nil", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("Check: %v, want %q", err, tc.err)
			}
		})
	}
}

func TestDefaultSizes(t *testing.T) {
	central, worker := digitalocean.New().DefaultSizes()
	if central != "s-2vcpu-4gb" || worker != "s-2vcpu-4gb" {
		t.Errorf("DefaultSizes = %q, %q", central, worker)
	}
}

// TestDNSZoneNames: with a DNS zone, each central node gets a name pointing
// at its private address, its user data is rendered from the names (known
// before any droplet), and workers reach the members by name, so a replaced
// droplet changes no worker's user data.
func TestDNSZoneNames(t *testing.T) {
	spec := newSpec(3, 2)
	spec.DNSZone = "etcd.example.com"
	m, out := provision(t, spec)
	var names []string
	for _, node := range spec.Central {
		names = append(names, node.Name+".etcd.example.com")
	}
	records := m.OfType("digitalocean:index/dnsRecord:DnsRecord")
	if len(records) != 3 {
		t.Fatalf("%d DNS records, want 3", len(records))
	}
	for i, node := range spec.Central {
		d, _ := m.Named(node.Name)
		if got, want := d.Inputs["userData"].StringValue(), cloudtest.CentralText(i, names); got != want {
			t.Errorf("%s user data %q, want %q", node.Name, got, want)
		}
		var rec pulumitest.Resource
		for _, r := range records {
			if r.Inputs["name"].StringValue() == node.Name {
				rec = r
			}
		}
		if rec.Inputs["domain"].StringValue() != "etcd.example.com" || rec.Inputs["type"].StringValue() != "A" ||
			pulumitest.String(rec.Inputs["value"]) != d.Outputs["ipv4AddressPrivate"].StringValue() {
			t.Errorf("record of %s = %v, want an A record in etcd.example.com at its private address", node.Name, rec.Inputs)
		}
	}
	_, workers := droplets(t, m, spec)
	for _, w := range workers {
		if got, want := w.Inputs["userData"].StringValue(), cloudtest.WorkerText(names); got != want {
			t.Errorf("%s user data %q, want it rendered from the names %q", w.Name, got, want)
		}
	}
	if !slices.Equal(out.Hosts, names) {
		t.Errorf("central hosts %v, want %v", out.Hosts, names)
	}
}
