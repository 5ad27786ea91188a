package clusterpkg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/internal/gobuild"
)

// cliVersion is enginetest.CLIVersion: the SDK generators are the CLI's
// own pkg/v3 packages, built with its pins so the build shares the CLI's
// compiled packages in the Go build cache.
const cliVersion = "v3.259.0"

// genSDK writes a package's SDK with the code generators `pulumi package
// gen-sdk` runs in each language's host (pulumi-language-nodejs, -python,
// -go), which the module proxy does not serve at the CLI's version.
var genSDK = gobuild.Command{
	Name:    "gen-sdk",
	Module:  "github.com/pulumi/pulumi/pkg/v3",
	Version: cliVersion,
	Require: []string{"github.com/pulumi/pulumi/sdk/v3 " + cliVersion},
	Replace: []string{"github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e"},
	Main: `// Command gen-sdk SCHEMA LANGUAGE DIR writes the SDK of the package
// SCHEMA describes for LANGUAGE (nodejs, python or go) into DIR.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	gogen "github.com/pulumi/pulumi/pkg/v3/codegen/go"
	"github.com/pulumi/pulumi/pkg/v3/codegen/nodejs"
	"github.com/pulumi/pulumi/pkg/v3/codegen/python"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

func main() {
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "gen-sdk:", err)
		os.Exit(1)
	}
}

func run(schemaFile, language, dir string) error {
	b, err := os.ReadFile(schemaFile)
	if err != nil {
		return err
	}
	var spec schema.PackageSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return err
	}
	// The schema refers to no other package: a loader that knows none.
	loader := schema.NewCachedLoaderWithEntries(nil, map[string]schema.PackageReference{})
	pkg, diags, err := schema.BindSpec(spec, loader, schema.ValidationOptions{})
	if err != nil {
		return err
	}
	if diags.HasErrors() {
		return diags
	}
	var files map[string][]byte
	switch language {
	case "nodejs":
		files, err = nodejs.GeneratePackage("gen-sdk", pkg, nil, nil, false, loader)
	case "python":
		files, err = python.GeneratePackage("gen-sdk", pkg, nil, loader)
	case "go":
		files, err = gogen.GeneratePackage("gen-sdk", pkg, nil)
	default:
		err = fmt.Errorf("no generator for %q", language)
	}
	if err != nil {
		return err
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
`,
}

// typeScript is what type-checking the TypeScript SDK needs from npm,
// pinned: @pulumi/pulumi at the CLI's version.
const typeScript = `{
  "private": true,
  "dependencies": {
    "@pulumi/pulumi": "3.259.0",
    "@types/node": "20.19.9",
    "typescript": "5.9.3"
  }
}
`

// nodeModules installs typeScript's packages once into the user cache and
// returns their node_modules directory.
func nodeModules(t *testing.T) string {
	t.Helper()
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("no npm on PATH: the TypeScript SDK is not type-checked")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(typeScript))
	dir := filepath.Join(cache, "isolated-etcd", "tsc-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".bin", "tsc")); err == nil {
		return filepath.Join(dir, "node_modules")
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	// Installed beside, renamed into place when complete, so concurrent and
	// interrupted installs never meet.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "tsc-install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "package.json"), []byte(typeScript), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("installing @pulumi/pulumi and typescript from npm into %s (once; later runs reuse it)", dir)
	cmd := exec.Command(npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, dir); err != nil && !os.IsExist(err) {
		if _, statErr := os.Stat(filepath.Join(dir, "node_modules")); statErr != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "node_modules")
}

// run runs name with args in dir and fails t with its output.
func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// readmeBlock is the first code block in language of docs/component.md,
// the page that shows the component used from other languages.
func readmeBlock(t *testing.T, language string) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/component.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "```"+language+"\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatalf("docs/component.md has no %s block", language)
	}
	return block
}

// TestGeneratedSDKs: the SDKs `pulumi package gen-sdk` makes from the
// provider's schema. The TypeScript SDK and examples/typescript type-check
// with tsc against @pulumi/pulumi from npm, and so does the README's
// TypeScript program; every file of the Python SDK, and the README's Python
// program, compiles (python3 -m py_compile, which checks syntax only); the Go SDK passes go vet against the
// root module's Pulumi SDK. None of them is run: examples/yaml is, through
// the engine (TestEnginePackageYAML), and the three SDKs call the same
// provider the same way.
func TestGeneratedSDKs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the SDK generators and installs from npm; skipped with -short")
	}
	gen, err := gobuild.Build(context.Background(), genSDK, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	schemaFile, err := filepath.Abs(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	sdks := t.TempDir()
	for _, lang := range []string{"nodejs", "python", "go"} {
		run(t, sdks, nil, gen, schemaFile, lang, filepath.Join(sdks, lang))
	}

	t.Run("typescript", func(t *testing.T) {
		modules := nodeModules(t)
		dir := t.TempDir()
		if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
			t.Fatal(err)
		}
		example, err := os.ReadFile("../../examples/typescript/index.ts")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "index.ts"), example, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "readme.ts"), []byte(readmeBlock(t, "typescript")), 0o644); err != nil {
			t.Fatal(err)
		}
		// The example imports the SDK by its package name, as after
		// pulumi package add; paths point that name at the generated SDK.
		tsconfig := `{
  "compilerOptions": {
    "strict": true, "noEmit": true, "target": "es2020", "module": "commonjs", "moduleResolution": "node",
    "types": ["node"], "baseUrl": ".",
    "paths": {"@pulumi/isolatedetcd": ["` + filepath.ToSlash(filepath.Join(sdks, "nodejs", "index.ts")) + `"]}
  },
  "files": ["index.ts", "readme.ts"]
}`
		if err := os.WriteFile(filepath.Join(dir, "tsconfig.json"), []byte(tsconfig), 0o644); err != nil {
			t.Fatal(err)
		}
		// The SDK resolves @pulumi/pulumi from its own directory upward.
		if err := os.Symlink(modules, filepath.Join(sdks, "nodejs", "node_modules")); err != nil {
			t.Fatal(err)
		}
		run(t, dir, nil, filepath.Join(modules, ".bin", "tsc"), "-p", "tsconfig.json")
	})

	t.Run("python", func(t *testing.T) {
		if _, err := exec.LookPath("python3"); err != nil {
			t.Skip("no python3 on PATH")
		}
		var files []string
		err := filepath.WalkDir(filepath.Join(sdks, "python"), func(path string, d os.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(path, ".py") {
				files = append(files, path)
			}
			return err
		})
		if err != nil || len(files) == 0 {
			t.Fatalf("no Python files generated (%v)", err)
		}
		readme := filepath.Join(t.TempDir(), "readme.py")
		if err := os.WriteFile(readme, []byte(readmeBlock(t, "python")), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, readme)
		run(t, sdks, []string{"PYTHONPYCACHEPREFIX=" + t.TempDir()}, "python3", append([]string{"-m", "py_compile"}, files...)...)
	})

	t.Run("go", func(t *testing.T) {
		dir := filepath.Join(sdks, "go")
		// The root module's requirements, so the SDK builds against the
		// very packages the program does (and the build cache has them).
		root, err := os.ReadFile("../../go.mod")
		if err != nil {
			t.Fatal(err)
		}
		sum, err := os.ReadFile("../../go.sum")
		if err != nil {
			t.Fatal(err)
		}
		_, requires, _ := strings.Cut(string(root), "\n")
		mod := "module github.com/isolatedetcd/cluster/sdk/go\n" + requires
		for name, data := range map[string][]byte{"go.mod": []byte(mod), "go.sum": sum} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		run(t, dir, []string{"GOWORK=off", "GOFLAGS=-mod=mod"}, "go", "vet", "./...")
	})
}
