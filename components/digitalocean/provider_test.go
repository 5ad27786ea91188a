package digitalocean_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/components/cloud"
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

// newSpec is a cluster named etcd in nyc3 with central central nodes and
// workers workers; its worker user data lists the central IPs it is given.
func newSpec(central, workers int) cloud.Spec {
	s := cloud.Spec{
		Name:        "etcd",
		Region:      "nyc3",
		VpcCidr:     "10.21.0.0/16",
		OS:          cloud.Flatcar,
		Ports:       cloud.Ports{Client: 2379, Peer: 2380},
		CentralSize: "s-2vcpu-4gb",
		WorkerCount: workers,
		WorkerSize:  "s-1vcpu-2gb",
		WorkerUserData: func(ips pulumi.StringArrayOutput) pulumi.StringOutput {
			return ips.ApplyT(func(ips []string) string { return workerUserData(ips) }).(pulumi.StringOutput)
		},
		Tags: map[string]string{"env": "dev", "owner": "ops team"},
	}
	for i := range central {
		s.Central = append(s.Central, cloud.CentralNode{Name: fmt.Sprintf("etcd-central-%d", i), UserData: pulumi.String(fmt.Sprintf("#cloud-config central %d", i))})
	}
	return s
}

func workerUserData(ips []string) string {
	return "#cloud-config worker " + strings.Join(ips, ",")
}

// provision runs Provision under a parent component and returns the recorder,
// the parent's URN and the cluster's outputs, resolved.
func provision(t *testing.T, spec cloud.Spec) (*pulumitest.Mocks, string, resolved) {
	t.Helper()
	m := pulumitest.New()
	var urn string
	var out resolved
	err := m.Run(func(ctx *pulumi.Context) error {
		parent := &struct{ pulumi.ResourceState }{}
		if err := ctx.RegisterComponentResource("isolatedetcd:index:Cluster", "parent", parent); err != nil {
			return err
		}
		parent.URN().ApplyT(func(u pulumi.URN) error { urn = string(u); return nil })
		c, err := digitalocean.New().Provision(ctx, spec, pulumi.Parent(parent))
		if err != nil {
			return err
		}
		out.capture(c)
		return nil
	})
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return m, urn, out
}

// resolved holds a cloud.Cluster's outputs once the program has run.
type resolved struct {
	privateIPs, publicIPs []string
	workerGroup           string
	network               map[string]any
}

func (r *resolved) capture(c *cloud.Cluster) {
	c.CentralPrivateIPs.ApplyT(func(v []string) error { r.privateIPs = v; return nil })
	c.CentralPublicIPs.ApplyT(func(v []string) error { r.publicIPs = v; return nil })
	c.WorkerGroup.ApplyT(func(v string) error { r.workerGroup = v; return nil })
	c.Network.ToMapOutput().ApplyT(func(v map[string]any) error { r.network = v; return nil })
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
			spec.Image = tc.image
			m, parent, _ := provision(t, spec)
			got := map[string]int{}
			for _, r := range m.Resources() {
				if !strings.HasPrefix(r.Type, "digitalocean:") {
					continue
				}
				got[r.Type]++
				if r.Parent != parent {
					t.Errorf("%s %s: parent %q, want %q", r.Type, r.Name, r.Parent, parent)
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
	m, _, _ := provision(t, spec)
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
	m, _, _ := provision(t, spec)
	central, _ := droplets(t, m, spec)
	for i, d := range central {
		want := map[string]string{
			"name":     spec.Central[i].Name,
			"userData": fmt.Sprintf("#cloud-config central %d", i),
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
		if !slices.Equal(d.IgnoreChanges, []string{"image", "userData"}) {
			t.Errorf("%s: ignoreChanges %v, want [image userData]", d.Name, d.IgnoreChanges)
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
	m, _, out := provision(t, spec)
	if calls != 1 {
		t.Errorf("WorkerUserData called %d times, want once", calls)
	}
	central, workers := droplets(t, m, spec)
	var ips []string
	for _, d := range central {
		ips = append(ips, d.Outputs["ipv4AddressPrivate"].StringValue())
	}
	if !slices.Equal(out.privateIPs, ips) {
		t.Errorf("CentralPrivateIPs %v, want %v", out.privateIPs, ips)
	}
	want := workerUserData(ips)
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
	m, _, out := provision(t, spec)
	droplets(t, m, spec)
	if out.workerGroup != "etcd-worker" {
		t.Errorf("WorkerGroup %q, want etcd-worker", out.workerGroup)
	}
}

func TestImage(t *testing.T) {
	for _, tc := range []struct {
		image, want string
		custom      bool
	}{
		{image: "", custom: true},
		{image: "123456789", want: "123456789"},
		{image: "flatcar-stable-4459", want: "flatcar-stable-4459"},
	} {
		t.Run(tc.image, func(t *testing.T) {
			spec := newSpec(3, 2)
			spec.Image = tc.image
			m, _, out := provision(t, spec)
			images := m.OfType(imageType)
			if tc.custom != (len(images) == 1) || len(images) > 1 {
				t.Fatalf("%d custom images, want custom=%v", len(images), tc.custom)
			}
			want := tc.want
			if tc.custom {
				img := images[0]
				want = fmt.Sprint(img.Outputs["imageId"].NumberValue())
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
			if got, ok := out.network["imageId"]; ok != tc.custom || (ok && got != want) {
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
	m, _, out := provision(t, spec)
	central, _ := droplets(t, m, spec)
	var public []string
	for _, d := range central {
		public = append(public, d.Outputs["ipv4Address"].StringValue())
	}
	if !slices.Equal(out.publicIPs, public) {
		t.Errorf("CentralPublicIPs %v, want %v", out.publicIPs, public)
	}
	if len(out.privateIPs) != 3 {
		t.Errorf("CentralPrivateIPs %v, want 3", out.privateIPs)
	}
	want := map[string]string{
		"vpcId":             "etcd-vpc-id",
		"centralFirewallId": "etcd-central-firewall-id",
		"workerFirewallId":  "etcd-worker-firewall-id",
		"imageId":           fmt.Sprint(m.OfType(imageType)[0].Outputs["imageId"].NumberValue()),
	}
	for k, v := range want {
		if fmt.Sprint(out.network[k]) != v {
			t.Errorf("network[%s] = %v, want %v", k, out.network[k], v)
		}
	}
	if len(out.network) != len(want) {
		t.Errorf("network %v, want keys of %v", out.network, want)
	}
	if out.workerGroup != "etcd-worker" {
		t.Errorf("WorkerGroup %q, want etcd-worker", out.workerGroup)
	}
	vpc := m.OfType(vpcType)[0]
	if str(vpc, "region") != "nyc3" || str(vpc, "ipRange") != "10.21.0.0/16" {
		t.Errorf("vpc region %q ipRange %q", str(vpc, "region"), str(vpc, "ipRange"))
	}
}

func TestCheck(t *testing.T) {
	p := digitalocean.New()
	for _, tc := range []struct {
		region, image string
		err           string
	}{
		{region: "nyc3"},
		{region: "fra1", image: "ubuntu-24-04-x64"},
		{region: "sgp1", image: "123456789"},
		{region: "ams3", image: "flatcar-stable-4459.2.1"},
		{region: "", err: "region: not set"},
		{region: "us-east-1", err: `region: "us-east-1" is not a DigitalOcean region; want a slug such as nyc3`},
		{region: "NYC3", err: `region: "NYC3" is not a DigitalOcean region`},
		{region: "nyc", err: `region: "nyc" is not a DigitalOcean region`},
		{region: "nyc3", image: "Flatcar Stable", err: `image: "Flatcar Stable" is not a DigitalOcean image; want an image slug`},
		{region: "nyc3", image: "-flatcar", err: `image: "-flatcar" is not a DigitalOcean image`},
		{region: "nyc3", image: "flatcar_stable", err: `image: "flatcar_stable" is not a DigitalOcean image`},
	} {
		t.Run(tc.region+"/"+tc.image, func(t *testing.T) {
			err := p.Check(tc.region, tc.image)
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
