package enginetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/isolatedetcd/cluster/internal/gobuild"
)

// YAMLVersion is the Pulumi YAML language host that runs YAML programs.
const YAMLVersion = "v1.25.0"

// yamlCommand builds the YAML language host with the versions its own
// go.mod names (pkg/v3 v3.206.0): it does not build against the CLI's
// v3.259.0, whose plugin.NewContextWithRoot and schema.NewPluginLoader
// changed, so it shares no compiled packages with the CLI's build.
var yamlCommand = gobuild.Command{
	Name:    "pulumi-language-yaml",
	Module:  "github.com/pulumi/pulumi-yaml",
	Version: YAMLVersion,
	Package: "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml",
	LDFlags: "-X github.com/pulumi/pulumi-yaml/pkg/version.Version=" + strings.TrimPrefix(YAMLVersion, "v"),
}

var (
	packageOnce sync.Once
	packageBin  string
	providerDir string
	packageErr  error
)

// packageTools builds the YAML language host (cached across runs) into a
// directory for PATH, and the package's provider from root/provider (once
// per test process) into a directory of its own.
func packageTools(ctx context.Context, root string, log func(string)) (string, string, error) {
	packageOnce.Do(func() {
		yaml, err := gobuild.Build(ctx, yamlCommand, log)
		if err != nil {
			packageErr = err
			return
		}
		dir, err := os.MkdirTemp("", "enginetest-package-")
		if err != nil {
			packageErr = err
			return
		}
		packageBin = dir
		if packageErr = os.Symlink(yaml, filepath.Join(dir, "pulumi-language-yaml")); packageErr != nil {
			return
		}
		// provider/ is a module of its own; its go.mod and go.sum must
		// cover the root module's requirements as they are now.
		if providerDir, packageErr = os.MkdirTemp("", "enginetest-provider-"); packageErr != nil {
			return
		}
		build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(providerDir, "pulumi-resource-isolatedetcd"), ".")
		build.Dir = filepath.Join(root, "provider")
		build.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			packageErr = fmt.Errorf("build the package's provider (if go.mod or go.sum is behind, run: cd provider && go mod tidy): %w\n%s", err, out)
		}
	})
	return packageBin, providerDir, packageErr
}

// WithPackage puts the YAML language host first on e's PATH and returns the
// directory of the package's provider, built from root/provider, which a
// project's packages name as the package's source.
func (e *Engine) WithPackage(t testing.TB, root string) string {
	t.Helper()
	bin, provider, err := packageTools(context.Background(), root, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	for i, kv := range e.Env {
		if path, ok := strings.CutPrefix(kv, "PATH="); ok {
			e.Env[i] = "PATH=" + bin + string(os.PathListSeparator) + path
		}
	}
	return provider
}
