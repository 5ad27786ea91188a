// Package tests holds the tests of the whole program: through the real
// Pulumi engine (engine_*), under the mock engine (main_test.go), the
// README's deploy path, the workflows, the import budget and the alerting
// rules' module. Unit tests stay beside their packages.
package tests

import (
	"fmt"
	"os"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/internal/program"
)

// TestMain runs the tests from the project directory, where the Pulumi
// CLI runs the program and where the files they read are: Pulumi.yaml,
// the stack files, the README and docs, the workflows.
func TestMain(m *testing.M) {
	if err := os.Chdir(".."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// goProgram is the program main.go runs: program.Run with the project's
// Pulumi.yaml, which main.go embeds and the tests read.
func goProgram(ctx *pulumi.Context) error {
	projectFile, err := os.ReadFile("Pulumi.yaml")
	if err != nil {
		return err
	}
	return program.Run(projectFile)(ctx)
}
