package components_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
)

var centralNode = regexp.MustCompile(`-central-[0-9]+(-data)?$`)

// centralResources are every resource of the central nodes: machines, data
// volumes and their attachments, in name order.
func centralResources(m *pulumitest.Mocks) []pulumitest.Resource {
	var out []pulumitest.Resource
	for _, r := range m.Resources() {
		if centralNode.MatchString(r.Name) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b pulumitest.Resource) int { return strings.Compare(a.Type+a.Name, b.Type+b.Name) })
	return out
}

var volumeType = map[string]string{"aws": "aws:ebs/volume:Volume", "digitalocean": "digitalocean:index/volume:Volume"}

func TestCentralDataVolumes(t *testing.T) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		t.Run(cloud, func(t *testing.T) {
			m, _ := mustProvision(t, validArgs(cloud))
			volumes := role(m.OfType(volumeType[cloud]), "-central-")
			machines := centrals(m, cloud)
			if len(volumes) != len(machines) {
				t.Fatalf("%d data volumes for %d central nodes", len(volumes), len(machines))
			}
			for i, v := range volumes {
				if v.Inputs["size"].NumberValue() < 10 {
					t.Errorf("%s is %v GiB", v.Name, v.Inputs["size"])
				}
				if cloud == "aws" {
					if !v.Inputs["encrypted"].BoolValue() {
						t.Errorf("%s is not encrypted", v.Name)
					}
					subnet, _ := m.Named(str(machines[i].Inputs, "subnetId")[:len(str(machines[i].Inputs, "subnetId"))-len("-id")])
					if got, want := str(v.Inputs, "availabilityZone"), str(subnet.Inputs, "availabilityZone"); got != want {
						t.Errorf("%s in zone %s, its instance's subnet in %s", v.Name, got, want)
					}
				}
				// The node's cloud-config mounts the device the cloud attaches.
				device := "/dev/xvdf"
				if cloud == "digitalocean" {
					device = "/dev/disk/by-id/scsi-0DO_Volume_" + str(v.Inputs, "name")
				}
				if text := userData(t, machines[i]); !strings.Contains(text, "What="+device) {
					t.Errorf("%s user data does not mount %s:\n%s", machines[i].Name, device, text)
				}
			}
			if cloud == "aws" {
				for _, a := range m.OfType("aws:ec2/volumeAttachment:VolumeAttachment") {
					if str(a.Inputs, "deviceName") != "/dev/xvdf" {
						t.Errorf("%s attaches at %s", a.Name, str(a.Inputs, "deviceName"))
					}
				}
			}
		})
	}
}

// freeOfProtection tells the resources protectCentral leaves unprotected:
// the workers' machines, which are free by design, and what routine changes
// replace or delete (certificates on renewal, an imported image when the
// operator names another, the stack's own tags), but the backup key. The destroy guard keeps
// every deletion of the cluster from reaching them.
func freeOfProtection(r pulumitest.Resource) bool {
	switch {
	case r.Type == "aws:ec2/launchTemplate:LaunchTemplate", r.Type == "aws:autoscaling/group:Group":
		return true
	case r.Type == "digitalocean:index/droplet:Droplet":
		return strings.Contains(r.Name, "-worker-")
	case r.Type == "digitalocean:index/tag:Tag":
		return strings.Contains(r.Name, "environment")
	}
	// The backup key is not free: every snapshot is encrypted to it.
	return strings.HasPrefix(r.Type, "tls:") && !strings.HasSuffix(r.Name, "-backup-key") || r.Type == "digitalocean:index/customImage:CustomImage"
}

// TestProtectCentral: with protectCentral every resource of the cluster but
// the free ones is protected, attachments, DNS records, network, firewalls,
// roles and the backup bucket with its settings included; without it none
// is. The destroy guard takes the setting and depends on every resource.
func TestProtectCentral(t *testing.T) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		for _, protect := range []bool{false, true} {
			args := validArgs(cloud)
			args.ProtectCentral = protect
			m, _ := mustProvision(t, args)
			guards := m.OfType(components.GuardType)
			if len(guards) != 1 || guards[0].Protect != protect {
				t.Fatalf("%s/%v: destroy guards %+v, want one, protect %v", cloud, protect, guards, protect)
			}
			var kept, free int
			for _, r := range m.Resources() {
				if !r.Custom {
					continue
				}
				if freeOfProtection(r) {
					free++
					if r.Protect {
						t.Errorf("%s/%v: %s %s is protected; a routine change replaces or deletes it", cloud, protect, r.Type, r.Name)
					}
				} else if kept++; r.Protect != protect {
					t.Errorf("%s/%v: %s %s protect = %v", cloud, protect, r.Type, r.Name, r.Protect)
				}
				if !slices.ContainsFunc(guards[0].Dependencies, func(urn string) bool { return strings.HasSuffix(urn, "::"+r.Name) && strings.Contains(urn, r.Type) }) {
					t.Errorf("%s/%v: the destroy guard does not depend on %s %s", cloud, protect, r.Type, r.Name)
				}
			}
			if kept == 0 || free == 0 {
				t.Errorf("%s/%v: %d kept and %d free resources: the check proves nothing", cloud, protect, kept, free)
			}
		}
	}
}

// TestRollCentral: rolling one node frees exactly that machine to take the new
// image and user data; its data volume stays protected.
func TestRollCentral(t *testing.T) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		t.Run(cloud, func(t *testing.T) {
			args := validArgs(cloud)
			args.ProtectCentral, args.RollCentral = true, "etcd-dev-central-1"
			m, _ := mustProvision(t, args)
			for _, r := range centrals(m, cloud) {
				rolled := r.Name == args.RollCentral
				if rolled == (len(r.IgnoreChanges) > 0) || rolled == r.Protect {
					t.Errorf("%s: ignoreChanges %v protect %v, rolled %v", r.Name, r.IgnoreChanges, r.Protect, rolled)
				}
				if !r.DeleteBeforeReplace {
					t.Errorf("%s is not deleted before replacement: its successor needs its volume (and on AWS its address)", r.Name)
				}
			}
			for _, v := range role(m.OfType(volumeType[cloud]), "-central-") {
				if !v.Protect {
					t.Errorf("data volume %s unprotected during a roll", v.Name)
				}
			}
		})
	}
	args := validArgs("aws")
	args.RollCentral = "etcd-dev-central-3"
	m, _, err := provision(t, args)
	if err == nil || !strings.Contains(err.Error(), `rollCentral: "etcd-dev-central-3"`) || len(m.Resources()) != 0 {
		t.Errorf("rolling a node that does not exist: %v, %d resources", err, len(m.Resources()))
	}
}

// TestRoutineChangesIgnoredByCentral: changes that reach central inputs (a
// newer AMI from the lookup, another image, new SSH keys, a new central
// size) change only inputs the central machines ignore, while the workers
// take the ones that reach them.
func TestRoutineChangesIgnoredByCentral(t *testing.T) {
	cases := []struct {
		name   string
		cloud  string
		change func(*components.ClusterArgs, *pulumitest.Mocks)
		// centralOnly: the workers are untouched by the change.
		centralOnly bool
	}{
		{"newer Flatcar AMI", "aws", func(_ *components.ClusterArgs, m *pulumitest.Mocks) { m.AMI = "ami-0fedcba9876543210" }, false},
		{"image", "aws", func(a *components.ClusterArgs, _ *pulumitest.Mocks) { a.Image = pulumi.String("ami-0aaaabbbbccccdddd") }, false},
		{"image", "digitalocean", func(a *components.ClusterArgs, _ *pulumitest.Mocks) { a.Image = pulumi.String("123456789") }, false},
		{"ssh keys", "digitalocean", func(a *components.ClusterArgs, _ *pulumitest.Mocks) { a.SSHAuthorizedKeys = nil }, false},
		{"centralSize", "aws", func(a *components.ClusterArgs, _ *pulumitest.Mocks) { a.CentralSize = "m6i.large" }, true},
		{"centralSize", "digitalocean", func(a *components.ClusterArgs, _ *pulumitest.Mocks) { a.CentralSize = "s-4vcpu-8gb" }, true},
	}
	for _, tc := range cases {
		t.Run(tc.cloud+"/"+tc.name, func(t *testing.T) {
			before, _ := mustProvision(t, validArgs(tc.cloud))
			args, m := validArgs(tc.cloud), pulumitest.New()
			tc.change(&args, m)
			if _, _, err := provisionOn(t, m, args); err != nil {
				t.Fatal(err)
			}
			old, changed := centralResources(before), 0
			for i, r := range centralResources(m) {
				for k, v := range r.Inputs {
					if old[i].Inputs[k].DeepEquals(v) {
						continue
					}
					changed++
					if !slices.Contains(r.IgnoreChanges, string(k)) {
						t.Errorf("%s: input %s changes and is not ignored", r.Name, k)
					}
				}
			}
			if changed == 0 {
				t.Error("no central input changed: the case tests nothing")
			}
			w := workers(m, tc.cloud)[0]
			if took := !w.Inputs.DeepEquals(workers(before, tc.cloud)[0].Inputs); took == tc.centralOnly {
				t.Errorf("worker %s took the change: %v; want %v", w.Name, took, !tc.centralOnly)
			}
		})
	}
}

// TestWorkerGroupRollSettings: the auto scaling group is set up to roll its
// workers: a rolling instance refresh that keeps 90% of them healthy, and
// the launch template's own latest version pinned (not $Latest, on which no
// refresh starts). That a worker setting change then rolls them, through a
// new template version the group is updated to, is
// TestEngineWorkersRollOnTemplateChange (tests/engine_workers_test.go).
func TestWorkerGroupRollSettings(t *testing.T) {
	m, _ := mustProvision(t, validArgs("aws"))
	asg := m.OfType("aws:autoscaling/group:Group")[0]
	lt := m.OfType("aws:ec2/launchTemplate:LaunchTemplate")[0]
	refresh := asg.Inputs["instanceRefresh"].ObjectValue()
	prefs := refresh["preferences"].ObjectValue()
	if str(refresh, "strategy") != "Rolling" || prefs["minHealthyPercentage"].NumberValue() != 90 {
		t.Errorf("instance refresh = %v, want a rolling one keeping 90%% healthy", refresh)
	}
	spec := asg.Inputs["launchTemplate"].ObjectValue()
	if got, want := str(spec, "version"), fmt.Sprint(lt.Outputs["latestVersion"].NumberValue()); got != want {
		t.Errorf("the group runs launch template version %q, want the template's latest, %s: an instance refresh starts only when a pinned version changes", got, want)
	}
	if got, want := str(spec, "id"), lt.Name+"-id"; got != want {
		t.Errorf("the group runs launch template %q, want %s", got, want)
	}
}
