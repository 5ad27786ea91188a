package plan_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/coreos/coreos-cloudinit/config"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/internal/plan"
)

// thirdCloud is a cloud the program does not ship: machines of a type only
// it knows, at addresses only it chooses.
type thirdCloud struct{}

func (thirdCloud) CheckRegion(string) error                        { return nil }
func (thirdCloud) CheckImage(string) error                         { return nil }
func (thirdCloud) KnowsCentralHosts(string) (bool, error)          { return true, nil }
func (thirdCloud) CheckBackup(*pulumi.Context, cloud.Backup) error { return nil }
func (thirdCloud) CheckMonitoringGroups([]string) error            { return nil }
func (thirdCloud) Region(_ *pulumi.Context, region string) (string, error) {
	return region, nil
}
func (thirdCloud) DefaultSizes() (central, worker string) { return "small", "large" }
func (thirdCloud) DataDevice(string) string               { return "/dev/vdb" }
func (thirdCloud) address(i int) string                   { return fmt.Sprintf("10.99.0.%d", 20+i) }
func (t thirdCloud) Provision(ctx *pulumi.Context, spec cloud.Spec, opts ...pulumi.ResourceOption) (*cloud.Provisioned, error) {
	var ips, sizes []string
	for i := range spec.Central {
		ips = append(ips, t.address(i))
		sizes = append(sizes, spec.CentralSize)
	}
	// Any S3-compatible store will do, with a key of its own.
	store := &cloud.Store{
		Bucket:          pulumi.String("third-backups").ToStringOutput(),
		Provider:        "Other",
		Endpoint:        "https://s3.anywhere-1.example",
		AccessKeyID:     pulumi.String("AKTHIRD").ToStringOutput(),
		SecretAccessKey: pulumi.ToSecret(pulumi.String("third-secret")).(pulumi.StringOutput),
		Keys:            func(string) pulumi.StringArrayOutput { return pulumi.StringArray{}.ToStringArrayOutput() },
	}
	userData, err := spec.CentralUserData(ips, store)
	if err != nil {
		return nil, err
	}
	for i, n := range spec.Central {
		if err := ctx.RegisterResource("thirdcloud:index:Machine", n.Name, pulumi.Map{"userData": userData[i]}, &struct{ pulumi.CustomResourceState }{}, opts...); err != nil {
			return nil, err
		}
	}
	workers := spec.WorkerUserData(pulumi.ToStringArray(ips).ToStringArrayOutput())
	if err := ctx.RegisterResource("thirdcloud:index:Pool", spec.Name+"-workers", pulumi.Map{"userData": workers, "size": pulumi.Int(spec.WorkerCount)}, &struct{ pulumi.CustomResourceState }{}, opts...); err != nil {
		return nil, err
	}
	return &cloud.Provisioned{
		CentralHosts:      pulumi.ToStringArray(ips).ToStringArrayOutput(),
		CentralPrivateIPs: pulumi.ToStringArray(ips).ToStringArrayOutput(),
		CentralPublicIPs:  pulumi.ToStringArray(ips).ToStringArrayOutput(),
		CentralSizes:      pulumi.ToStringArray(sizes).ToStringArrayOutput(),
		WorkerGroup:       pulumi.String(spec.Name + "-workers").ToStringOutput(),
		Network:           pulumi.Map{},
	}, nil
}

// TestReadThirdCloud: the plan is read from the component's outputs, so a
// cloud added as one new backend needs nothing of the plan reader.
func TestReadThirdCloud(t *testing.T) {
	components.Clouds["thirdcloud"] = func() cloud.Provider { return thirdCloud{} }
	t.Cleanup(func() { delete(components.Clouds, "thirdcloud") })
	p, err := plan.Read("etcd-third", components.ClusterArgs{
		Cloud: "thirdcloud", Region: "anywhere-1", CentralCount: 3, WorkerCount: 4,
		Bootstrap: "static",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Central) != 3 || len(p.Workers) != 4 || p.Flavor != "flatcar" || p.WorkerProxy != "grpc-proxy" {
		t.Fatalf("plan %+v", p)
	}
	var third thirdCloud
	for i, n := range p.Central {
		want := components.CentralName("etcd-third", i)
		if n.Name != want || n.Role != plan.Central || n.CloudIP != third.address(i) || !strings.Contains(n.UserData, "ETCD_NAME="+want) || !strings.Contains(backupScript(t, n.UserData), "for to in backup:third-backups/etcd-third; do") || !strings.Contains(backupScript(t, n.UserData), `"$to/`+want+`/$sealed"`) {
			t.Errorf("central %d = %s %s %s, want %s at %s with its own user data, uploading to the third cloud's store", i, n.Name, n.Role, n.CloudIP, want, third.address(i))
		}
	}
	for j, w := range p.Workers {
		if w.Name != cloud.WorkerName("etcd-third", j) || w.Role != plan.Worker || !strings.Contains(w.UserData, "10.99.0.22:2379") {
			t.Errorf("worker %d = %s %s, user data not rendered from the central addresses:\n%s", j, w.Name, w.Role, w.UserData)
		}
	}
}

// backupScript is the backup script of a central node's user data, decoded
// as coreos-cloudinit writes it (gzip+base64).
func backupScript(t *testing.T, userData string) string {
	t.Helper()
	cc, err := config.NewCloudConfig(userData)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cc.WriteFiles {
		if f.Path == "/opt/bin/etcd-backup" {
			b, err := config.DecodeContent(f.Content, f.Encoding)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
	return ""
}
