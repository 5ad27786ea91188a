// Command isolated-etcd is the Pulumi program: it reads the stack config,
// hands the values to the Cluster component and exports the component's
// outputs as the stack's.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
)

func main() {
	pulumi.Run(program)
}

func program(ctx *pulumi.Context) error {
	key := func(k string) string { return ctx.Project() + ":" + k }
	args, err := components.ArgsFromConfig(
		func(k string) (string, bool) { return ctx.GetConfig(key(k)) },
		func(k string) bool { return ctx.IsConfigSecret(key(k)) },
	)
	if err != nil {
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
