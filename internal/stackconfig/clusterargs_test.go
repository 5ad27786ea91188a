package stackconfig_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/stackconfig"
)

const discoveryURL = "https://discovery.etcd.io/3e86b59982e49066c5d813af1c2e2579"

// clusterArgs reads raw as a stack's config whose secret keys are secrets.
func clusterArgs(raw map[string]string, secrets ...string) (components.ClusterArgs, error) {
	return stackconfig.ClusterArgs("prod",
		func(k string) (string, bool) { v, ok := raw[k]; return v, ok },
		func(k string) bool { return slices.Contains(secrets, k) },
	)
}

func TestClusterArgs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		raw     map[string]string
		secrets []string
		want    components.ClusterArgs
	}{
		{
			name: "unset keys take their defaults",
			raw:  map[string]string{},
			want: components.ClusterArgs{CentralCount: components.DefaultCentralCount, ProtectCentral: true},
		},
		{
			name: "as the CLI hands Pulumi.yaml's defaults over",
			raw: map[string]string{"cloud": "aws", "region": "", "centralCount": "3", "workerCount": "0", "image": "",
				"discoveryCheck": "true", "protectCentral": "true", "sshAuthorizedKeys": "[]", "tags": "{}"},
			want: components.ClusterArgs{Cloud: "aws", CentralCount: 3, ProtectCentral: true, SSHAuthorizedKeys: pulumi.StringArray{}, Tags: map[string]string{}},
		},
		{
			name: "every key set",
			raw: map[string]string{
				"cloud": "digitalocean", "region": "fra1", "centralCount": " 5 ", "workerCount": "12",
				"centralSize": "s-4vcpu-8gb", "workerSize": "s-2vcpu-4gb", "flavor": "coreos-etcd2", "workerProxy": "v2-proxy", "configFormat": "ignition",
				"etcdVersion": "3.6", "bootstrap": "discovery", "dnsZone": "example.com", "image": "123456789", "discoveryUrl": discoveryURL, "discoveryCheck": "false", "protectCentral": "false",
				"rollCentral": "etcd-dev-central-1", "sshAuthorizedKeys": `["ssh-ed25519 AAAA ops@example.com"]`,
				"sshAllowedCidrs": `["198.51.100.0/24"]`, "vpcCidr": "10.30.0.0/16", "tags": `{"team":"platform"}`,
				"backupIdentity": "AGE-SECRET-KEY-1X",
			},
			secrets: []string{"discoveryUrl", "backupIdentity"},
			want: components.ClusterArgs{
				Cloud: "digitalocean", Region: "fra1", CentralCount: 5, WorkerCount: 12,
				CentralSize: "s-4vcpu-8gb", WorkerSize: "s-2vcpu-4gb", Flavor: "coreos-etcd2", WorkerProxy: "v2-proxy", ConfigFormat: "ignition",
				EtcdVersion: "3.6", Bootstrap: "discovery", DNSZone: "example.com", Image: pulumi.String("123456789"), DiscoveryURL: discoveryURL, DiscoveryURLSecret: true, SkipDiscoveryCheck: true,
				RollCentral: "etcd-dev-central-1", SSHAuthorizedKeys: pulumi.StringArray{pulumi.String("ssh-ed25519 AAAA ops@example.com")},
				SSHAllowedCidrs: []string{"198.51.100.0/24"}, VpcCidr: "10.30.0.0/16", Tags: map[string]string{"team": "platform"},
				BackupIdentity: "AGE-SECRET-KEY-1X",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := clusterArgs(tc.raw, tc.secrets...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ClusterArgs =\n%#v\nwant\n%#v", got, tc.want)
			}
		})
	}
}

// TestClusterArgsRejectsTypes: a value of the wrong type names its key and
// the value; every such value is reported at once.
func TestClusterArgsRejectsTypes(t *testing.T) {
	raw := map[string]string{
		"centralCount":      "three",
		"workerCount":       "2.5",
		"discoveryCheck":    "maybe",
		"protectCentral":    "yes please",
		"sshAuthorizedKeys": "ssh-ed25519 AAAA",
		"sshAllowedCidrs":   "198.51.100.0/24",
		"tags":              "team=platform",
		"backupIdentity":    "AGE-SECRET-KEY-1X",
	}
	_, err := clusterArgs(raw)
	for _, want := range []string{
		`centralCount: "three" is not a whole number`,
		`workerCount: "2.5" is not a whole number`,
		`discoveryCheck: "maybe" is not true or false`,
		`protectCentral: "yes please" is not true or false`,
		`sshAuthorizedKeys: "ssh-ed25519 AAAA" is not a list of strings`,
		`sshAllowedCidrs: "198.51.100.0/24" is not a list of strings`,
		`tags: "team=platform" is not a map of strings to strings`,
		// Plain in the stack's file, it would decrypt every snapshot.
		"backupIdentity: stored in plain text",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q: %v", want, err)
		}
	}
}
