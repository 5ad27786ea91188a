package components_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	ign "github.com/coreos/ignition/v2/config/v3_4"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"golang.org/x/crypto/ssh"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/ignition"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
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
					got, want := nodeReads(t, r), texts[min(i, 3)]
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
// either format (here a central node with 40 SSH keys; an Ignition one
// with the join units takes at most 47, docs/deploy.md): a cloud-config
// gzipped, which coreos-cloudinit gunzips; an Ignition config as one that
// Ignition's parser takes and that replaces itself with the gzipped
// original. Either way the node reads exactly the output.
func TestUserDataOverEC2Limit(t *testing.T) {
	var keys pulumi.StringArray
	for i := range 40 {
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
			machine := centrals(m, "aws")[0]
			if sent, err := base64.StdEncoding.DecodeString(pulumitest.String(machine.Inputs["userDataBase64"])); err != nil || len(sent) > 16<<10 {
				t.Errorf("EC2 is sent %d bytes (%v), want at most 16384", len(sent), err)
			}
			raw := userData(t, machine)
			if format == components.FormatIgnition {
				if _, report, err := ign.Parse([]byte(raw)); err != nil || len(report.Entries) > 0 || !strings.Contains(raw, `"replace":`) {
					t.Fatalf("not an Ignition config that replaces itself: %v %v\n%.300s", err, report, raw)
				}
			}
			got := nodeReads(t, machine)
			if got != want {
				t.Errorf("the node reads %d bytes other than the %d of the output", len(got), len(want))
			}
		})
	}
}

// nodeReads is the user data a machine or template carries as its node
// reads it: an Ignition config that replaces itself (compacted) read as the
// config it replaces itself with.
func nodeReads(t *testing.T, r pulumitest.Resource) string {
	t.Helper()
	text := userData(t, r)
	if strings.HasPrefix(text, "#cloud-config") {
		return text
	}
	expanded, err := ignition.Expanded(text)
	if err != nil {
		t.Fatalf("%s: %v", r.Name, err)
	}
	return expanded
}
