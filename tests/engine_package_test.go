package tests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/enginetest"
)

// yamlExample is the YAML program that declares the cluster through the
// package.
const yamlExample = "examples/yaml"

// yamlStack is the stack called name of the YAML program in e.Dir, created
// if new, driven like the Go program's.
func yamlStack(t *testing.T, e *enginetest.Engine, name string) *stack {
	t.Helper()
	s, err := auto.UpsertStackLocalSource(context.Background(), name, e.Dir,
		auto.Pulumi(e.CLI), auto.EnvVars(envMapOf(e.Env)))
	if err != nil {
		t.Fatalf("stack %s: %v", name, err)
	}
	return &stack{t: t, engine: e, auto: s, name: name}
}

func envMapOf(kvs []string) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// readmeYAML writes the YAML program of docs/component.md, its first yaml
// block, to a file and returns its path.
func readmeYAML(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("docs", "component.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("docs/component.md has no yaml block")
	}
	path := filepath.Join(t.TempDir(), "README.yaml")
	if err := os.WriteFile(path, []byte(block), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// copyFile copies the file from into the directory dir, as name, with a
// YAML program's package source (this checkout's provider/, or the README's
// release) replaced by pkg, the directory of the provider the test built
// from provider/ (the Go language host, which would build it from source,
// is not served by the module proxy).
func copyFile(t *testing.T, from, dir, name, pkg string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, source := range []string{"isolatedetcd: ../../provider\n", "isolatedetcd: github.com/isolatedetcd/cluster/provider@v1.0.0\n"} {
		if strings.HasSuffix(from, ".yaml") && strings.Contains(string(b), source) {
			b = []byte(strings.Replace(string(b), source, "isolatedetcd: "+pkg+"\n", 1))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// deployed is a resource of a stack's state.
type deployed struct {
	Type, ID        string
	Inputs, Outputs map[string]any
}

// deployedState is the stack's resources by URN.
func deployedState(t *testing.T, e *enginetest.Engine, stack string) map[string]deployed {
	t.Helper()
	var state struct {
		Deployment struct {
			Resources []struct {
				URN string
				deployed
			}
		}
	}
	if err := json.Unmarshal([]byte(e.Run(t, "stack", "export", "--show-secrets", "--stack", stack)), &state); err != nil {
		t.Fatal(err)
	}
	out := map[string]deployed{}
	for _, r := range state.Deployment.Resources {
		out[r.URN] = r.deployed
	}
	return out
}

// autoName is the random suffix the engine gives an auto-named resource.
var autoName = regexp.MustCompile(`(\w)-[0-9a-f]{8}\b`)

// settingsInputs are the inputs of the stack's cloud resources by URN, with
// what the stand-in clouds make afresh for each stack masked: every id of
// the stack's resources named by its resource, the random suffix of every
// auto-named resource's name, and long text (user data, keys, certificates,
// policies naming such names).
func settingsInputs(state map[string]deployed) map[string]any {
	var ids []string
	for urn, r := range state {
		if r.ID != "" && isCloud(r.Type) {
			ids = append(ids, r.ID, "<id of "+urn[strings.LastIndex(urn, "::")+2:]+">")
		}
	}
	mask := strings.NewReplacer(ids...)
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case string:
			if len(v) > 400 || strings.Contains(v, "-----BEGIN") {
				return "<long text>"
			}
			return autoName.ReplaceAllString(mask.Replace(v), "$1-<random>")
		case []any:
			out := make([]any, len(v))
			for i, e := range v {
				out[i] = walk(e)
			}
			return out
		case map[string]any:
			out := map[string]any{}
			for k, e := range v {
				out[k] = walk(e)
			}
			return out
		}
		return v
	}
	out := map[string]any{}
	for urn, r := range state {
		if isCloud(r.Type) {
			out[urn] = walk(map[string]any(r.Inputs))
		}
	}
	return out
}

// settingsOutputs are the cluster's outputs that follow from its settings
// alone; the others hold ids, addresses, keys and certificates, which the
// stand-in clouds make afresh for each stack.
func settingsOutputs(state map[string]deployed) map[string]any {
	out := map[string]any{}
	for _, r := range state {
		if r.Type != components.ClusterType {
			continue
		}
		for k, v := range r.Outputs {
			switch k {
			case "bootstrap", "centralNames", "centralPrivateIps", "discoveryUrl", "etcdClientEndpoints", "etcdPeerUrls",
				"etcdVersion", "flavor", "initialCluster", "tls", "workerProxy", "backupPrefix":
				out[k] = v
			default:
				out[k] = "<per stack>"
			}
		}
	}
	return out
}

// TestEnginePackageYAML: examples/yaml, the dev stack's settings in Pulumi
// YAML through the package, through the real engine (the pinned CLI, the
// YAML language host built pinned, the provider built from provider/, the
// stand-in clouds). It previews and ups with the Go program's resources
// (every URN, and every cloud input but ids and long text, alike) and the same outputs; the Go
// program's stack run by the YAML program, and back, replaces, creates and
// deletes nothing, every cloud id unchanged; and a bad value stops the YAML
// program with the component's own message, reported for the cluster,
// before any of its resources is registered.
func TestEnginePackageYAML(t *testing.T) {
	// The Go program's dev stack.
	goEngine := enginetest.New(t, ".")
	pkg := goEngine.WithPackage(t, ".")
	goStack := initStack(t, goEngine, "dev")
	goStack.up()
	goState := deployedState(t, goEngine, "dev")

	// The YAML program with the same stack file, in a backend of its own.
	yamlEngine := enginetest.New(t, yamlExample)
	yamlEngine.WithPackage(t, ".")
	copyFile(t, filepath.Join(yamlExample, "Pulumi.yaml"), yamlEngine.Dir, "Pulumi.yaml", pkg)
	copyFile(t, "Pulumi.dev.yaml", yamlEngine.Dir, "Pulumi.dev.yaml", pkg)
	y := yamlStack(t, yamlEngine, "dev")
	// Beside the Go program's resources, the YAML program has the
	// package's default provider.
	const packageProvider = "pulumi:providers:isolatedetcd"
	var goKeys, previewed []string
	for urn, r := range goState {
		goKeys = append(goKeys, r.Type+" "+urn[strings.LastIndex(urn, "::")+2:])
	}
	for key, st := range y.preview() {
		if st.op != apitype.OpCreate {
			t.Errorf("the YAML program's preview of a new stack: %s %s", st.op, key)
		}
		if !strings.HasPrefix(key, packageProvider+" ") {
			previewed = append(previewed, key)
		}
	}
	slices.Sort(goKeys)
	slices.Sort(previewed)
	if !slices.Equal(goKeys, previewed) {
		t.Errorf("the YAML program's preview creates\n%v\nthe Go program made\n%v", previewed, goKeys)
	}
	y.up()
	yamlState := deployedState(t, yamlEngine, "dev")
	for urn := range goState {
		if _, ok := yamlState[urn]; !ok {
			t.Errorf("the YAML program has no %s", urn)
		}
	}
	for urn, r := range yamlState {
		if _, ok := goState[urn]; !ok && r.Type != packageProvider {
			t.Errorf("the YAML program has %s, which the Go program has not", urn)
		}
	}
	goIn, yamlIn := settingsInputs(goState), settingsInputs(yamlState)
	for urn, in := range goIn {
		if !reflect.DeepEqual(in, yamlIn[urn]) {
			t.Errorf("%s: inputs differ:\nGo program:   %v\nYAML program: %v", urn, in, yamlIn[urn])
		}
	}
	goOut, yamlOut := settingsOutputs(goState), settingsOutputs(yamlState)
	if len(goOut) == 0 || !reflect.DeepEqual(goOut, yamlOut) {
		t.Errorf("the cluster's outputs differ:\nGo program:   %v\nYAML program: %v", goOut, yamlOut)
	}

	// The Go program's stack, run by the YAML program, then by the Go
	// program again: nothing created, deleted or replaced.
	copyFile(t, filepath.Join(yamlExample, "Pulumi.yaml"), goEngine.Dir, "Pulumi.yaml", pkg)
	moved := yamlStack(t, goEngine, "dev")
	kept := func(how string, c changes) {
		t.Helper()
		for key, st := range c {
			component := strings.HasPrefix(key, components.ClusterType+" ")
			if st.op != apitype.OpSame && !(st.op == apitype.OpUpdate && component) && !strings.HasPrefix(key, packageProvider+" ") {
				t.Errorf("%s: %s %s", how, st.op, key)
			}
		}
	}
	kept("the Go program's stack previewed by the YAML program", moved.preview())
	kept("the Go program's stack updated by the YAML program", moved.up())
	for urn, before := range goState {
		if after, ok := deployedState(t, goEngine, "dev")[urn]; !ok || after.ID != before.ID {
			t.Errorf("%s: id %s before the move, %s after", urn, before.ID, after.ID)
		}
	}
	copyFile(t, "Pulumi.yaml", goEngine.Dir, "Pulumi.yaml", pkg)
	kept("the stack back with the Go program", goStack.preview())

	// The README's YAML program, as shown, previews.
	readme := t.TempDir()
	copyFile(t, readmeYAML(t), readme, "Pulumi.yaml", pkg)
	if err := os.WriteFile(filepath.Join(readme, "Pulumi.readme.yaml"), []byte("config:\n  aws:region: us-east-2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	shown, err := auto.UpsertStackLocalSource(context.Background(), "readme", readme,
		auto.Pulumi(yamlEngine.CLI), auto.EnvVars(envMapOf(yamlEngine.Env)))
	if err != nil {
		t.Fatal(err)
	}
	if c := (&stack{t: t, engine: yamlEngine, auto: shown, name: "readme"}).preview(); c.op(components.ClusterType, "etcd-dev") != apitype.OpCreate {
		t.Errorf("the README's YAML program does not create the cluster: %v", changed(c))
	}

	// A bad value: the component's message, an error of the cluster's.
	bad := yamlStack(t, yamlEngine, "bad")
	copyFile(t, "Pulumi.dev.yaml", yamlEngine.Dir, "Pulumi.bad.yaml", pkg)
	bad.config("centralCount", "4")
	const want = "centralCount: 4 is not allowed; want 1, 3, 5 or 7"
	ch := make(chan events.EngineEvent)
	var mu sync.Mutex
	var registered, errs []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			mu.Lock()
			if p := e.ResourcePreEvent; p != nil && p.Metadata.Type != components.ClusterType && !strings.HasPrefix(p.Metadata.Type, "pulumi:") {
				registered = append(registered, p.Metadata.URN)
			}
			if d := e.DiagnosticEvent; d != nil && d.Severity == "error" {
				errs = append(errs, d.URN+": "+d.Message)
			}
			mu.Unlock()
		}
	}()
	_, err = bad.stack().Preview(context.Background(), optpreview.EventStreams(ch))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("preview with centralCount 4 ended with %v; want it stopped with %q", err, want)
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(registered) != 0 {
		t.Errorf("the refused preview registered %v", registered)
	}
	if !slices.ContainsFunc(errs, func(m string) bool {
		return strings.Contains(m, "isolatedetcd:index:Cluster resource 'etcd-dev' has a problem: invalid cluster settings:") && strings.Contains(m, want)
	}) {
		t.Errorf("no error of the cluster's says %q; the errors: %q", want, errs)
	}
}
