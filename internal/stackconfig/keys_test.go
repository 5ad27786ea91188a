package stackconfig_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/internal/stackconfig"
)

func TestDeclaredKeys(t *testing.T) {
	b, err := os.ReadFile("../../Pulumi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := stackconfig.DeclaredKeys(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"centralCount", "tags", "workerSize", "restoreFrom"} {
		if !slices.Contains(keys, k) {
			t.Errorf("declared keys %v lack %s", keys, k)
		}
	}
	if !slices.IsSorted(keys) {
		t.Errorf("declared keys %v are not sorted", keys)
	}
}

// noMocks answers nothing: the programs below register nothing.
type noMocks struct{}

func (noMocks) NewResource(pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	return "", nil, nil
}
func (noMocks) Call(pulumi.MockCallArgs) (resource.PropertyMap, error) { return nil, nil }

// TestConfigKeys: the program sees every key of the stack's config,
// whatever its namespace, as the SDK hands them to it.
func TestConfigKeys(t *testing.T) {
	config := map[string]string{"isolated-etcd:workerCount": "2", "isolated-etcd:workerSise": "m6i.large", "aws:region": "us-east-2"}
	b, _ := json.Marshal(config)
	t.Setenv(pulumi.EnvConfig, string(b))
	var keys []string
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var err error
		keys, err = stackconfig.ConfigKeys(ctx)
		return err
	}, pulumi.WithMocks("isolated-etcd", "dev", noMocks{}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"aws:region", "isolated-etcd:workerCount", "isolated-etcd:workerSise"}; !slices.Equal(keys, want) {
		t.Errorf("config keys %v, want %v", keys, want)
	}
}

// TestCheckKeys: a key of the project's namespace that Pulumi.yaml does not
// declare is refused, naming the key, its value (a secret's never), what
// is allowed, the key most likely meant and how to remove it; declared
// keys and other namespaces' keys pass.
func TestCheckKeys(t *testing.T) {
	declared := []string{"centralCount", "tags", "workerCount", "workerSize"}
	config := map[string]string{
		"isolated-etcd:workerCount": "2", "aws:region": "us-east-2", "digitalocean:tokn": "x",
		"isolated-etcd:workerSise": "m6i.large", "isolated-etcd:centralcount": "5", "isolated-etcd:secretThing": "hunter2", "isolated-etcd:colour": "blue",
	}
	var keys []string
	for k := range config {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	err := stackconfig.CheckKeys("isolated-etcd", declared, keys,
		func(k string) (string, bool) { v, ok := config[k]; return v, ok },
		func(k string) bool { return k == "isolated-etcd:secretThing" })
	if err == nil {
		t.Fatal("unknown keys accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`config: isolated-etcd:workerSise = "m6i.large" is not a setting of this program (did you mean workerSize?); the settings are those Pulumi.yaml declares: centralCount, tags, workerCount, workerSize. Remove it with: pulumi config rm workerSise`,
		`isolated-etcd:centralcount = "5" is not a setting of this program (did you mean centralCount?)`,
		`isolated-etcd:secretThing = [secret] is not a setting of this program;`,
		`isolated-etcd:colour = "blue" is not a setting of this program;`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") || strings.Contains(msg, "workerCount =") || strings.Contains(msg, "aws:") || strings.Contains(msg, "digitalocean:") {
		t.Errorf("error shows a secret, or refuses a declared key or another namespace's:\n%s", msg)
	}
	if n := strings.Count(msg, "\n") + 1; n != 4 {
		t.Errorf("%d refusals, want one per unknown key (4):\n%s", n, msg)
	}
	if err := stackconfig.CheckKeys("isolated-etcd", declared, []string{"isolated-etcd:tags", "aws:region"}, func(string) (string, bool) { return "", true }, func(string) bool { return false }); err != nil {
		t.Errorf("declared keys refused: %v", err)
	}
}
