// Package gobuild builds pinned Go commands from the Go module proxy into the
// user cache directory, once, so tools the project runs (etcd, the Pulumi CLI)
// need nothing but Go on a fresh machine.
package gobuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Command is one command to build, from a module of its own so that its
// dependencies never enter the project's go.mod.
type Command struct {
	// Name names the binary and, with the version, its cache directory.
	Name string
	// Module and Version are the module that holds the command's code.
	Module, Version string
	// Package is the main package to build. Empty builds Main instead.
	Package string
	// Main is the source of a main package of the build module's own, for a
	// module that offers a library but no command.
	Main string
	// Require and Replace are further go.mod lines ("path version",
	// "old => new version").
	Require, Replace []string
	// LDFlags are passed to go build.
	LDFlags string
}

// dir is the cache directory of c: its binary is dir()/Name.
func (c Command) dir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("build cache for %s: %w", c.Name, err)
	}
	return filepath.Join(cache, "isolated-etcd", c.Name+"-"+c.Version), nil
}

func (c Command) goMod() string {
	var b strings.Builder
	fmt.Fprintf(&b, "module isolatedetcd/build/%s\n\ngo 1.24\n\nrequire %s %s\n", c.Name, c.Module, c.Version)
	for _, r := range c.Require {
		fmt.Fprintf(&b, "require %s\n", r)
	}
	for _, r := range c.Replace {
		fmt.Fprintf(&b, "replace %s\n", r)
	}
	if c.Package != "" {
		// A tool directive keeps the module required although no source
		// file of the build module imports it.
		fmt.Fprintf(&b, "tool %s\n", c.Package)
	}
	return b.String()
}

// Build returns the path of c's binary, building it on first use. log
// receives a line before a build starts, which takes minutes on a small
// machine.
func Build(ctx context.Context, c Command, log func(string)) (string, error) {
	dir, err := c.dir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, c.Name)
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return bin, nil
	}
	// Each build has a source directory and a binary name of its own, the
	// binary renamed into place when complete, so concurrent builds (test
	// packages run in parallel) and interrupted ones never meet.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src, err := os.MkdirTemp(dir, "src-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	files := map[string]string{"go.mod": c.goMod()}
	target := c.Package
	if c.Main != "" {
		files["main.go"], target = c.Main, "."
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building %s needs the go tool on PATH: %w", c.Name, err)
	}
	tmp := filepath.Join(src, c.Name)
	log(fmt.Sprintf("building %s %s from the Go module proxy into %s (once; later runs reuse it)", c.Name, c.Version, bin))
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-trimpath", "-ldflags", c.LDFlags, "-o", tmp, target}} {
		cmd := exec.CommandContext(ctx, goTool, args...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go %s for %s %s: %w\n%s", strings.Join(args, " "), c.Name, c.Version, err, out)
		}
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}
