package components_test

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	ign "github.com/coreos/ignition/v2/config/v3_4"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/vincent-petithory/dataurl"
	"golang.org/x/crypto/ssh"

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

// TestUserDataOverEC2Limit: user data over EC2's 16 KiB goes compacted in
// either format (here a central node with 100 SSH keys): a cloud-config
// gzipped, which coreos-cloudinit gunzips; an Ignition config as one that
// Ignition's parser takes and that replaces itself with the gzipped
// original. Either way the node reads exactly the output.
func TestUserDataOverEC2Limit(t *testing.T) {
	var keys pulumi.StringArray
	for i := range 100 {
		pub, _, err := ed25519.GenerateKey(rand.NewChaCha8([32]byte{byte(i)}))
		if err != nil {
			t.Fatal(err)
		}
		k, err := ssh.NewPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, pulumi.String(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))+fmt.Sprintf(" ops%d@example.com", i)))
	}
	for _, format := range []string{components.FormatCloudConfig, components.FormatIgnition} {
		t.Run(format, func(t *testing.T) {
			args := validArgs("aws")
			args.ConfigFormat = format
			args.SSHAuthorizedKeys = keys
			m, out := mustProvision(t, args)
			want := out.values["centralCloudConfig"].([]string)[0]
			if len(want) <= 16<<10 {
				t.Fatalf("the rendered user data is %d bytes, within EC2's limit: this test proves nothing", len(want))
			}
			got := userData(t, centrals(m, "aws")[0])
			if format == components.FormatIgnition {
				cfg, report, err := ign.Parse([]byte(got))
				if err != nil || len(report.Entries) > 0 || cfg.Ignition.Config.Replace.Source == nil {
					t.Fatalf("not an Ignition config that replaces itself: %v %v\n%.300s", err, report, got)
				}
				u, err := dataurl.DecodeString(*cfg.Ignition.Config.Replace.Source)
				if err != nil {
					t.Fatal(err)
				}
				z, err := gzip.NewReader(bytes.NewReader(u.Data))
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(z)
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
			}
			if got != want {
				t.Errorf("the node reads %d bytes other than the %d of the output", len(got), len(want))
			}
		})
	}
}
