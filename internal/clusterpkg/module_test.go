package clusterpkg

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// goIn runs the go command in dir as a clean checkout would, no workspace,
// go.mod and go.sum read-only.
func goIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestProviderModule: provider/ is a module of its own so that
// pulumi-go-provider and the engine it pulls in never enter the program's
// build. Its go.mod and go.sum cover everything it builds as the root
// module now stands (a change to the root go.mod may need
// `cd provider && go mod tidy`), and it builds against the Pulumi SDK
// version the root module names, so the package and the program run the
// same SDK.
func TestProviderModule(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	const provider = "../../provider"
	goIn(t, provider, "list", "-deps", ".")
	const sdk = "github.com/pulumi/pulumi/sdk/v3"
	root := goIn(t, "../..", "list", "-m", "-f", "{{.Version}}", sdk)
	if got := goIn(t, provider, "list", "-m", "-f", "{{.Version}}", sdk); got != root {
		t.Errorf("the provider builds with %s %s, the program with %s", sdk, got, root)
	}
	deps := goIn(t, "../..", "list", "-deps", "-test", "./...")
	for _, engine := range []string{"github.com/pulumi/pulumi-go-provider", "github.com/pulumi/pulumi/pkg/v3"} {
		if strings.Contains(deps, engine+"\n") || strings.Contains(deps, engine+"/") {
			t.Errorf("the root module builds %s", engine)
		}
	}
}
