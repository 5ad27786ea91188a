package clusterpkg

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
)

// TestArgs: the component's inputs read as the Go program reads the same
// values from stack config; what is not a value the setting takes, or not
// known yet, is refused naming the key.
func TestArgs(t *testing.T) {
	str := property.New[string]
	num := property.New[float64]
	tests := []struct {
		name    string
		stack   string
		inputs  map[string]property.Value
		check   func(t *testing.T, a components.ClusterArgs)
		wantErr []string
	}{
		{
			name:  "values as the program reads them from stack config",
			stack: "prod",
			inputs: map[string]property.Value{
				"cloud":           str("digitalocean"),
				"region":          str("nyc3"),
				"centralCount":    num(5),
				"workerCount":     num(2),
				"tls":             property.New(false),
				"backup":          property.New(true),
				"discoveryCheck":  property.New(false),
				"sshAllowedCidrs": property.New(property.NewArray([]property.Value{str("203.0.113.0/24")})),
				"tags":            property.New(property.NewMap(map[string]property.Value{"team": str("db")})),
				"image":           str("flatcar-stable"),
				"discoveryUrl":    str("https://discovery.example/abc").WithSecret(true),
			},
			check: func(t *testing.T, a components.ClusterArgs) {
				if a.Cloud != "digitalocean" || a.Region != "nyc3" || a.CentralCount != 5 || a.WorkerCount != 2 {
					t.Errorf("cloud %q region %q counts %d/%d", a.Cloud, a.Region, a.CentralCount, a.WorkerCount)
				}
				if a.TLS == nil || *a.TLS || a.Backup == nil || !*a.Backup || !a.SkipDiscoveryCheck {
					t.Errorf("tls %v backup %v skip check %v", a.TLS, a.Backup, a.SkipDiscoveryCheck)
				}
				if len(a.SSHAllowedCidrs) != 1 || a.SSHAllowedCidrs[0] != "203.0.113.0/24" || a.Tags["team"] != "db" {
					t.Errorf("cidrs %v tags %v", a.SSHAllowedCidrs, a.Tags)
				}
				if a.Image != pulumi.String("flatcar-stable") {
					t.Errorf("image %v, want the value", a.Image)
				}
				if a.DiscoveryURL != "https://discovery.example/abc" || !a.DiscoveryURLSecret {
					t.Errorf("discovery URL %q secret %v", a.DiscoveryURL, a.DiscoveryURLSecret)
				}
				if a.PlaintextAcknowledged {
					t.Error("plaintext acknowledged on stack prod")
				}
			},
		},
		{
			name:   "defaults, and plaintext needs no acknowledging on a dev stack",
			stack:  "dev-alice",
			inputs: map[string]property.Value{},
			check: func(t *testing.T, a components.ClusterArgs) {
				if a.CentralCount != components.DefaultCentralCount || a.TLS != nil || a.Image != nil || !a.PlaintextAcknowledged {
					t.Errorf("central %d tls %v image %v acknowledged %v", a.CentralCount, a.TLS, a.Image, a.PlaintextAcknowledged)
				}
			},
		},
		{
			name:  "an image from another resource stays an output",
			stack: "prod",
			inputs: map[string]property.Value{
				"image": property.New(property.Computed),
			},
			check: func(t *testing.T, a components.ClusterArgs) {
				if _, ok := a.Image.(pulumi.StringOutput); !ok {
					t.Errorf("image %T, want an output", a.Image)
				}
			},
		},
		{
			name:  "what the stack config reader refuses, and what is not known yet",
			stack: "prod",
			inputs: map[string]property.Value{
				"centralCount": num(3.5),
				"workerCount":  property.New(property.Computed),
			},
			wantErr: []string{`centralCount: "3.5" is not a whole number`, "workerCount: not known yet"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outputs := pulumi.Map{"image": pulumi.String("ami-from-elsewhere").ToStringOutput()}
			args, err := Args(tt.stack, property.NewMap(tt.inputs), outputs)
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want one saying %q", err, want)
				}
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, args)
			}
		})
	}
}
