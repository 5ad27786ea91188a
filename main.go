// Command isolated-etcd is the Pulumi program: it reads the stack config,
// hands the values to the Cluster component and exports its outputs.
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
	args, err := components.ArgsFromConfig(ctx.Stack(),
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
	ctx.Export("discoveryUrl", cluster.DiscoveryURL)
	ctx.Export("centralPrivateIps", cluster.CentralPrivateIPs)
	ctx.Export("centralPublicIps", cluster.CentralPublicIPs)
	ctx.Export("etcdClientEndpoints", cluster.EtcdClientEndpoints)
	ctx.Export("etcdPeerUrls", cluster.EtcdPeerURLs)
	ctx.Export("workerGroup", cluster.WorkerGroup)
	ctx.Export("centralCloudConfig", cluster.CentralCloudConfig)
	ctx.Export("workerCloudConfig", cluster.WorkerCloudConfig)
	ctx.Export("network", cluster.Network)
	return nil
}
