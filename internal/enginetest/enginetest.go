// Package enginetest runs the program through the real Pulumi engine for
// tests: a pinned Pulumi CLI built from the Go module proxy, a local file
// backend, a passphrase secrets provider, the project's own Pulumi.yaml and
// stack files, and fakecloud's stand-in providers in place of the clouds'.
// Nothing reaches the network.
package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/internal/gobuild"
)

// CLIVersion is the Pulumi CLI the tests run.
const CLIVersion = "v3.259.0"

var cliCommand = gobuild.Command{
	Name:    "pulumi",
	Module:  "github.com/pulumi/pulumi/pkg/v3",
	Version: CLIVersion,
	Package: "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
	// pkg/v3's own go.mod replaces these; a module that builds it must too.
	Require: []string{"github.com/pulumi/pulumi/sdk/v3 " + CLIVersion},
	Replace: []string{"github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e"},
	LDFlags: "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=" + CLIVersion,
}

// passphrase protects every stack's secrets.
const passphrase = "enginetest"

var (
	toolsOnce sync.Once
	toolsBin  string
	toolsErr  error
)

// tools builds the CLI (cached across runs) and the stand-in providers
// (once per test process) into one directory for PATH.
func tools(ctx context.Context, log func(string)) (string, error) {
	toolsOnce.Do(func() {
		cli, err := gobuild.Build(ctx, cliCommand, log)
		if err != nil {
			toolsErr = err
			return
		}
		dir, err := os.MkdirTemp("", "enginetest-bin-")
		if err != nil {
			toolsErr = err
			return
		}
		toolsBin = dir
		if err := os.Symlink(cli, filepath.Join(dir, "pulumi")); err != nil {
			toolsErr = err
			return
		}
		aws := filepath.Join(dir, "pulumi-resource-aws")
		build := exec.CommandContext(ctx, "go", "build", "-o", aws, "github.com/isolatedetcd/cluster/internal/fakecloud/provider")
		if out, err := build.CombinedOutput(); err != nil {
			toolsErr = fmt.Errorf("build the stand-in provider: %w\n%s", err, out)
			return
		}
		for _, name := range []string{"pulumi-resource-digitalocean", "pulumi-resource-tls"} {
			if toolsErr = os.Link(aws, filepath.Join(dir, name)); toolsErr != nil {
				return
			}
		}
	})
	return toolsBin, toolsErr
}

// Engine is one project directory with its own backend and Pulumi home.
type Engine struct {
	// Dir holds copies of the project's Pulumi.yaml and stack files; the
	// CLI runs there.
	Dir string
	// StateDir is the file backend's directory: every stack's state lives
	// there.
	StateDir string
	// Env is what every CLI run gets beyond the test's environment.
	Env []string
	// CLI runs the pinned Pulumi CLI and records its peak memory.
	CLI *CLI
}

// New prepares an engine for the project whose Pulumi.yaml lies in root.
// It skips the test under -short: the first run builds the CLI (minutes).
func New(t testing.TB, root string) *Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real Pulumi engine; skipped with -short")
	}
	bin, err := tools(context.Background(), func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "project")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "Pulumi*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Pulumi.yaml in %s: %v", root, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(tmp, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	e := &Engine{
		Dir:      dir,
		StateDir: state,
		Env: []string{
			"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
			"PULUMI_HOME=" + filepath.Join(tmp, "home"),
			"PULUMI_BACKEND_URL=file://" + filepath.ToSlash(state),
			"PULUMI_CONFIG_PASSPHRASE=" + passphrase,
			"PULUMI_SKIP_UPDATE_CHECK=true",
			"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
			// Leaves the engine no cloud to reach if a stand-in were missed.
			"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=", "DIGITALOCEAN_TOKEN=",
		},
		CLI: &CLI{Path: filepath.Join(bin, "pulumi")},
	}
	return e
}

// Stack selects the stack called name, created if new, running program
// inline in e.Dir; env adds to e.Env for this stack's runs.
func (e *Engine) Stack(t testing.TB, name string, program pulumi.RunFunc, env ...string) auto.Stack {
	t.Helper()
	ctx := context.Background()
	s, err := auto.UpsertStackInlineSource(ctx, name, "", program,
		auto.WorkDir(e.Dir), auto.Pulumi(e.CLI), auto.EnvVars(envMap(append(e.Env, env...))))
	if err != nil {
		t.Fatalf("stack %s: %v", name, err)
	}
	return s
}

// Run runs the CLI with args in e.Dir, as an operator types them, and
// returns its standard output; a failure fails t with what the CLI said.
func (e *Engine) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, stderr, _, err := e.CLI.Run(context.Background(), e.Dir, nil, nil, nil, e.Env, args...)
	if err != nil {
		t.Fatalf("pulumi %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

func envMap(kvs []string) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// CLI is an auto.PulumiCommand for the pinned CLI that also records the
// peak resident memory of each run's process tree.
type CLI struct {
	Path string

	mu sync.Mutex
	// maxRSS is the largest peak resident set, in bytes, of any process of
	// the last run: the CLI or a plugin it waited for.
	maxRSS int64
}

// Version is the pinned version.
func (c *CLI) Version() semver.Version { return semver.MustParse(strings.TrimPrefix(CLIVersion, "v")) }

// LastMaxRSS is the peak resident memory of the last run, in bytes.
func (c *CLI) LastMaxRSS() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxRSS
}

// Run runs the CLI the way the Automation API's own command does:
// non-interactive, in workdir, with additionalEnv.
func (c *CLI) Run(ctx context.Context, workdir string, stdin io.Reader, additionalOutput, additionalErrorOutput []io.Writer,
	additionalEnv []string, args ...string,
) (string, string, int, error) {
	args = append(args, "--non-interactive")
	cmd := exec.CommandContext(ctx, c.Path, args...)
	cmd.Dir = workdir
	cmd.Env = append(append(os.Environ(), additionalEnv...), "PULUMI_AUTOMATION_API=true")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = io.MultiWriter(append(additionalOutput, &stdout)...)
	cmd.Stderr = io.MultiWriter(append(additionalErrorOutput, &stderr)...)
	cmd.Stdin = stdin
	err := cmd.Run()
	code := -2
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			c.mu.Lock()
			// Linux reports ru_maxrss in KiB.
			c.maxRSS = int64(ru.Maxrss) * 1024
			if runtime.GOOS == "darwin" {
				c.maxRSS = int64(ru.Maxrss)
			}
			c.mu.Unlock()
		}
	}
	if err != nil {
		err = fmt.Errorf("pulumi %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), stderr.String(), code, err
}
