package gobuild

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// tiny is a command that builds in seconds from a module the project's own
// build already has in the module cache.
func tiny(name string) Command {
	return Command{
		Name: name, Module: "github.com/google/uuid", Version: "v1.6.0",
		Main: "package main\n\nimport \"github.com/google/uuid\"\n\nfunc main() { println(uuid.NewString()) }\n",
	}
}

// logs collects what builds log, from any goroutine.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) log(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *logs) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// buildTest skips in -short mode, gives the test a user cache of its own
// and a deadline, and collects what builds log.
func buildTest(t *testing.T) (context.Context, *logs) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a command")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx, &logs{}
}

func TestBuildJoinsTheBuildAhead(t *testing.T) {
	ctx, l := buildTest(t)
	c := tiny("joined")
	stop := Ahead(ctx, l.log, c)
	defer stop()
	bin, err := Build(ctx, c, l.log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no binary after Build: %v", err)
	}
	stop()
	// Whichever started first, one build ran and the other waited for it.
	if n := l.count("building"); n != 1 {
		t.Fatalf("%d builds started, want 1:\n%s", n, strings.Join(l.lines, "\n"))
	}
}

// waitFor polls until a line starting with prefix is logged.
func (l *logs) waitFor(t *testing.T, prefix string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); l.count(prefix) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("no %q line in a minute:\n%s", prefix, strings.Join(l.lines, "\n"))
			return
		}
	}
}

func TestBuildOutlivesAStoppedAhead(t *testing.T) {
	ctx, l := buildTest(t)
	c := tiny("stopped")
	stop := Ahead(ctx, l.log, c)
	l.waitFor(t, "building in the background")
	// Ahead's caller stops it while Build waits for its build.
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		l.waitFor(t, "waiting for the build")
		stop()
	}()
	bin, err := Build(ctx, c, l.log)
	<-stopped
	if err != nil {
		t.Fatalf("Build whose build ahead was stopped: %v", err)
	}
	if !built(bin) {
		t.Fatalf("no binary at %s", bin)
	}
	if n := l.count("building"); n != 2 {
		t.Fatalf("%d builds started, want 2 (the stopped one, then Build's own):\n%s", n, strings.Join(l.lines, "\n"))
	}
}
