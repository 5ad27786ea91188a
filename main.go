// Command isolated-etcd is the Pulumi program: it reads the stack config,
// hands the values to the Cluster component and exports the component's
// outputs as the stack's.
package main

import (
	_ "embed"
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/internal/program"
)

func main() {
	// The Pulumi CLI starts the program with the engine's address; run by
	// hand it has none, and the SDK's own failure says only "exit status 32".
	if os.Getenv(pulumi.EnvMonitor) == "" {
		fmt.Fprintln(os.Stderr, `isolated-etcd is a Pulumi program: the Pulumi CLI runs it.
  pulumi preview             show what a stack would create (README.md, Deploy)
  pulumi up                  create or update it
  go run ./cmd/rehearse      boot the dev stack's cluster locally on real etcd, no cloud needed`)
		os.Exit(2)
	}
	pulumi.Run(program.Run(projectFile))
}

// projectFile is Pulumi.yaml, whose config keys are the program's settings.
//
//go:embed Pulumi.yaml
var projectFile []byte
