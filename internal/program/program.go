// Package program is the Pulumi program: the stack's config checked
// against the keys Pulumi.yaml declares and read into ClusterArgs, the
// Cluster made from it, and its outputs exported as the stack's. main.go
// runs it; the program-level tests (tests/) run the same function.
package program

import (
	"errors"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/stackconfig"
)

// Run is the program for the project whose Pulumi.yaml is projectFile.
func Run(projectFile []byte) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
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
}
