package components_test

import (
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
)

// TestRegion: on AWS the cluster runs where the AWS provider's own config
// says (aws:region, asked through getRegion) unless the stack's region key
// pins it; on DigitalOcean, whose provider has no region, the key says. The
// component records the region it runs in.
func TestRegion(t *testing.T) {
	for _, tc := range []struct {
		name, cloud, region string
		// configured is the region of the default AWS provider.
		configured string
		// want is the region recorded; wantProvider the provider every
		// resource of the cloud goes through ("" is the default one).
		want, wantProvider string
	}{
		{"aws:region", "aws", "", "eu-west-3", "eu-west-3", ""},
		{"region key overrides aws:region", "aws", "ap-southeast-2", "eu-west-3", "ap-southeast-2", "etcd-dev-aws"},
		{"digitalocean", "digitalocean", "fra1", "", "fra1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs(tc.cloud)
			args.Region = tc.region
			m := pulumitest.New()
			m.Cloud = m.In(tc.configured)
			if _, _, err := provisionOn(t, m, args); err != nil {
				t.Fatal(err)
			}
			cluster := m.OfType(components.ClusterType)[0]
			if got := pulumitest.String(cluster.Inputs["region"]); got != tc.want {
				t.Errorf("component region = %q, want %q", got, tc.want)
			}
			for _, r := range m.Resources() {
				switch {
				case !r.Custom || strings.HasPrefix(r.Type, "tls:"):
				case strings.HasPrefix(r.Type, "pulumi:providers:"):
					if r.Name != tc.wantProvider || pulumitest.String(r.Inputs["region"]) != tc.want {
						t.Errorf("provider %s for %v, want only %q for %s", r.Name, r.Inputs["region"], tc.wantProvider, tc.want)
					}
				case tc.wantProvider == "" && r.Provider != "",
					tc.wantProvider != "" && !strings.Contains(r.Provider, "::"+tc.wantProvider+"::"):
					t.Errorf("%s %s goes through provider %q, want %q", r.Type, r.Name, r.Provider, tc.wantProvider)
				}
			}
			for _, r := range m.OfType("digitalocean:index/droplet:Droplet") {
				if got := str(r.Inputs, "region"); got != tc.want {
					t.Errorf("%s in %s, want %s", r.Name, got, tc.want)
				}
			}
			for _, r := range m.OfType("aws:ec2/subnet:Subnet") {
				if got := str(r.Inputs, "availabilityZone"); tc.wantProvider == "" && !strings.HasPrefix(got, tc.want) {
					t.Errorf("%s in zone %s, want one of %s", r.Name, got, tc.want)
				}
			}
		})
	}
}

// TestRegionOfTheAWSProviderChecked: the default provider's region is
// checked like the stack's, before anything is registered.
func TestRegionOfTheAWSProviderChecked(t *testing.T) {
	for _, tc := range []struct{ configured, want string }{
		{"", "aws:region: the AWS provider cannot say which region it is in"},
		{"fra1", `aws:region: "fra1", the AWS provider's region, is not an AWS region`},
	} {
		m := pulumitest.New()
		m.Cloud = m.In(tc.configured)
		_, _, err := provisionOn(t, m, validArgs("aws"))
		if err == nil || !strings.Contains(err.Error(), tc.want) || len(m.Resources()) != 0 {
			t.Errorf("AWS provider in %q: %v, %d resources; want %q and none registered", tc.configured, err, len(m.Resources()), tc.want)
		}
	}
}
