// Package gobuild builds pinned Go commands from the Go module proxy into the
// user cache directory, once, so tools the project runs (etcd, the Pulumi CLI)
// need nothing but Go on a fresh machine.
package gobuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
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
	// About is roughly how long a first build takes on a 2-core machine
	// with empty caches, measured, for the progress lines a build prints.
	About time.Duration
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

// Build returns the path of c's binary, building it on first use, or
// waiting for the build of it already under way (Ahead's, say). log
// receives a line when a build starts and then every half minute, since a
// first build takes minutes on a small machine.
func Build(ctx context.Context, c Command, log func(string)) (string, error) {
	for {
		f, _, err := start(ctx, c, log, false)
		if err != nil {
			return "", err
		}
		if f == nil {
			return binOf(c), nil
		}
		if err := await(ctx, c, f, log); err != nil {
			return "", err
		}
		// The build of a caller that stopped (Ahead's) is built again here.
		if errors.Is(f.err, context.Canceled) && ctx.Err() == nil {
			continue
		}
		if f.err != nil {
			return "", f.err
		}
		return binOf(c), nil
	}
}

// await waits for f, saying every half minute how long it has run.
func await(ctx context.Context, c Command, f *flight, log func(string)) error {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-f.done:
			return nil
		case <-tick.C:
			log(fmt.Sprintf("still building %s %s: %s so far (%s)", c.Name, c.Version, time.Since(f.started).Round(time.Second), c.expected()))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Ahead builds cmds one after another in the background, so that a Build of
// one later finds it built, or waits for its build under way, instead of
// starting from nothing. stop cancels what is left and returns once no
// build Ahead started runs any more.
func Ahead(ctx context.Context, log func(string), cmds ...Command) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, c := range cmds {
			if ctx.Err() != nil {
				return
			}
			f, own, err := start(ctx, c, log, true)
			if err != nil || f == nil {
				continue
			}
			select {
			case <-f.done:
			case <-ctx.Done():
				if own {
					<-f.done
				}
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// flight is one build under way.
type flight struct {
	started time.Time
	done    chan struct{}
	err     error
}

var (
	mu sync.Mutex
	// flights are the builds under way in this process, by binary path.
	flights = map[string]*flight{}
)

// start returns the build of c under way, starting it, bound to ctx, when
// there is none (own), or nil when c is built. A build ahead runs at the
// lowest CPU priority, so that the processes it runs beside keep theirs.
func start(ctx context.Context, c Command, log func(string), ahead bool) (f *flight, own bool, err error) {
	bin := binOf(c)
	if bin == "" {
		_, err := c.dir()
		return nil, false, err
	}
	mu.Lock()
	defer mu.Unlock()
	if f := flights[bin]; f != nil {
		if !ahead {
			log(fmt.Sprintf("waiting for the build of %s %s, under way for %s (%s)", c.Name, c.Version, time.Since(f.started).Round(time.Second), c.expected()))
		}
		return f, false, nil
	}
	if built(bin) {
		return nil, false, nil
	}
	f = &flight{started: time.Now(), done: make(chan struct{})}
	flights[bin] = f
	how := "building"
	if ahead {
		how = "building in the background"
	}
	log(fmt.Sprintf("%s %s %s from the Go module proxy into %s, once (%s)", how, c.Name, c.Version, bin, c.expected()))
	go func() {
		f.err = build(ctx, c, bin, ahead)
		mu.Lock()
		delete(flights, bin)
		mu.Unlock()
		close(f.done)
	}()
	return f, true, nil
}

// expected says how long a first build takes.
func (c Command) expected() string {
	if c.About == 0 {
		return "minutes on a small machine the first time"
	}
	if c.About%time.Minute == 0 {
		return fmt.Sprintf("about %d min on 2 cores the first time", c.About/time.Minute)
	}
	return fmt.Sprintf("about %s on 2 cores the first time", c.About)
}

// binOf is the path of c's binary, "" when there is no cache directory.
func binOf(c Command) string {
	dir, err := c.dir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, c.Name)
}

func built(bin string) bool {
	fi, err := os.Stat(bin)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// build builds c into bin. Each build has a source directory and a binary
// name of its own, the binary renamed into place when complete, so builds
// in other processes (test packages run in parallel) and interrupted ones
// never meet.
func build(ctx context.Context, c Command, bin string, ahead bool) error {
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src, err := os.MkdirTemp(dir, "src-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	files := map[string]string{"go.mod": c.goMod()}
	target := c.Package
	if c.Main != "" {
		files["main.go"], target = c.Main, "."
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building %s needs the go tool on PATH: %w", c.Name, err)
	}
	tmp := filepath.Join(src, c.Name)
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-trimpath", "-ldflags", c.LDFlags, "-o", tmp, target}} {
		cmd := exec.CommandContext(ctx, goTool, args...)
		if nice, err := exec.LookPath("nice"); err == nil && ahead {
			cmd = exec.CommandContext(ctx, nice, append([]string{"-n", "19", goTool}, args...)...)
		}
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("building %s %s: %w", c.Name, c.Version, ctx.Err())
			}
			return fmt.Errorf("go %s for %s %s: %w\n%s", strings.Join(args, " "), c.Name, c.Version, err, out)
		}
	}
	return os.Rename(tmp, bin)
}
