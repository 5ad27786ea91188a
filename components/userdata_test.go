package components_test

import (
	"strings"
	"testing"

	ign "github.com/coreos/ignition/v2/config/v3_4"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/ignition"
)

// TestConfigFormat: with configFormat ignition every machine of either
// cloud carries an Ignition config that Ignition's own parser accepts, its
// etcd unit reading the node's address from the cloud's metadata variable;
// unset, the nodes keep cloud-config.
func TestConfigFormat(t *testing.T) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		for _, format := range []string{"", components.FormatIgnition} {
			t.Run(cloud+"/"+format, func(t *testing.T) {
				args := validArgs(cloud)
				args.ConfigFormat = format
				m, out := mustProvision(t, args)
				texts := append(out.values["centralCloudConfig"].([]string), out.values["workerCloudConfig"].(string))
				machines := append(centrals(m, cloud), workers(m, cloud)...)
				// AWS's workers share one launch template.
				if len(machines) < 4 {
					t.Fatalf("%d machines and templates, want 3 central and the workers'", len(machines))
				}
				for i, r := range machines {
					got, want := userData(t, r), texts[min(i, 3)]
					if got != want {
						t.Errorf("%s: user data differs from the output", r.Name)
					}
					if format == "" {
						if !strings.HasPrefix(got, "#cloud-config") {
							t.Errorf("%s: configFormat unset, user data is not cloud-config:\n%.200s", r.Name, got)
						}
						continue
					}
					if _, report, err := ign.Parse([]byte(got)); err != nil || len(report.Entries) > 0 {
						t.Errorf("%s: not an Ignition config: %v\n%s", r.Name, err, report)
					}
					if !strings.Contains(got, "${"+ignition.AddressVars[cloud]+"}") {
						t.Errorf("%s: no unit reads the node's address from %s:\n%s", r.Name, ignition.AddressVars[cloud], got)
					}
				}
			})
		}
	}
}
