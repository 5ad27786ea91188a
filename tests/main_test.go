package tests

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/isolatedetcd/cluster/internal/pulumitest"
	"github.com/isolatedetcd/cluster/internal/stackconfig"
)

func stackConfig(t *testing.T, path string) map[string]string {
	t.Helper()
	c, err := stackconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// run runs the program as `pulumi up` would, with config handed over through
// the environment.
func run(t *testing.T, config map[string]string, secretKeys []string) (*pulumitest.Mocks, error) {
	t.Helper()
	c, _ := json.Marshal(config)
	s, _ := json.Marshal(secretKeys)
	t.Setenv("PULUMI_CONFIG", string(c))
	t.Setenv("PULUMI_CONFIG_SECRET_KEYS", string(s))
	m := pulumitest.New()
	return m, m.Run(goProgram)
}

func TestProjectFileIsValid(t *testing.T) {
	p, err := workspace.LoadProject("Pulumi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name.String() != pulumitest.Project {
		t.Errorf("project name %q, want %q", p.Name, pulumitest.Project)
	}
	for _, key := range []string{"cloud", "region", "centralCount", "workerCount", "centralSize", "workerSize", "flavor",
		"workerProxy", "etcdVersion", "bootstrap", "dnsZone", "image", "discoveryUrl", "discoveryCheck", "protectCentral", "rollCentral", "sshAuthorizedKeys", "sshAllowedCidrs", "vpcCidr", "tags"} {
		decl, ok := p.Config[key]
		if !ok || decl.Description == "" {
			t.Errorf("config key %s is not declared with a description in Pulumi.yaml", key)
		}
		// The engine requires every declared key without a default; the
		// program checks required values itself, with a better message.
		if ok && decl.Default == nil {
			t.Errorf("config key %s has no default in Pulumi.yaml, so the engine refuses every stack that leaves it unset", key)
		}
	}
}

// TestDevStackRuns: the dev stack needs no minted token and no secret: on
// AWS its members bootstrap statically from their fixed addresses.
func TestDevStackRuns(t *testing.T) {
	m, err := run(t, stackConfig(t, "Pulumi.dev.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	machines := m.OfType("aws:ec2/instance:Instance")
	if len(machines) != 3 {
		t.Fatalf("central instances = %d, want 3", len(machines))
	}
	var fixed []string
	for _, r := range machines {
		fixed = append(fixed, r.Inputs["privateIp"].StringValue())
	}
	for _, r := range machines {
		text, err := r.UserData()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(text, "ETCD_DISCOVERY") || !strings.Contains(text, "ETCD_INITIAL_CLUSTER_STATE=new") {
			t.Errorf("%s does not bootstrap statically:\n%s", r.Name, text)
		}
		for _, ip := range fixed {
			if !strings.Contains(text, "=https://"+ip+":2380") {
				t.Errorf("%s's initial cluster lacks the member at %s", r.Name, ip)
			}
		}
	}
	asg := m.OfType("aws:autoscaling/group:Group")
	if len(asg) != 1 || asg[0].Inputs["desiredCapacity"].NumberValue() != 2 {
		t.Errorf("worker group = %v, want one group of 2", asg)
	}
	if _, ok := m.Named("etcd-dev"); !ok {
		t.Error("no component named etcd-dev")
	}
}

func TestBadConfigValueNamesKey(t *testing.T) {
	config := stackConfig(t, "Pulumi.dev.yaml")
	config[pulumitest.Project+":discoveryUrl"] = "https://discovery.etcd.io/3e86b59982e49066c5d813af1c2e2579"
	config[pulumitest.Project+":centralCount"] = "4"
	m, err := run(t, config, nil)
	if err == nil || !strings.Contains(err.Error(), "centralCount: 4") {
		t.Fatalf("got %v", err)
	}
	if n := len(m.Resources()); n != 0 {
		t.Errorf("%d resources registered", n)
	}
}

// TestRunByHandExplains: started outside the Pulumi CLI, the program says
// what it is and what to run instead of the SDK's bare "exit status 32".
func TestRunByHandExplains(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "isolated-etcd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PULUMI_") })
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("exit: %v, want status 2", err)
	}
	for _, want := range []string{"Pulumi program", "pulumi preview", "go run ./cmd/rehearse"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not mention %q:\n%s", want, out)
		}
	}
}
