// Command isolated-etcd is the Pulumi program: it reads the stack config,
// hands the values to the Cluster component and exports the component's
// outputs as the stack's.
package main

import (
	_ "embed"
	"errors"
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/stackconfig"
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
	pulumi.Run(program)
}

// projectFile is Pulumi.yaml, whose config keys are the program's settings.
//
//go:embed Pulumi.yaml
var projectFile []byte

func program(ctx *pulumi.Context) error {
	// The CLI checks the types of the keys Pulumi.yaml declares and lets
	// any other key of the project through: a misspelt setting stops here.
	declared, err := stackconfig.DeclaredKeys(projectFile)
	if err != nil {
		return err
	}
	keys, err := stackconfig.ConfigKeys(ctx)
	if err != nil {
		return err
	}
	unknown := stackconfig.CheckKeys(ctx.Project(), declared, keys, ctx.GetConfig, ctx.IsConfigSecret)
	key := func(k string) string { return ctx.Project() + ":" + k }
	args, err := stackconfig.ClusterArgs(ctx.Stack(),
		func(k string) (string, bool) { return ctx.GetConfig(key(k)) },
		func(k string) bool { return ctx.IsConfigSecret(key(k)) },
	)
	if err := errors.Join(unknown, err); err != nil {
		return err
	}
	cluster, err := components.NewCluster(ctx, components.ClusterName(ctx.Stack()), args)
	if err != nil {
		return err
	}
	for name, value := range cluster.Outputs() {
		ctx.Export(name, value)
	}
	return nil
}
