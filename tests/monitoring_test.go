package tests

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMonitoringModule runs the alerting rules' tests (monitoring/, a module
// of its own so that Prometheus's packages never enter the program's build)
// as a clean checkout would, and checks the program's build holds none of
// them.
func TestMonitoringModule(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	run := func(dir string, args ...string) string {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
		}
		return string(out)
	}
	run("monitoring", "test", "-count=1", "./...")
	if deps := run(".", "list", "-deps", "-test", "./..."); strings.Contains(deps, "github.com/prometheus/prometheus/") {
		t.Error("the program's build holds github.com/prometheus/prometheus")
	}
}
