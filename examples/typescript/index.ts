// The Cluster component from a TypeScript program, through the package
// (pulumi package add, see the README). The SDK checks nothing itself: the
// component refuses a bad value before it creates anything, as for Go.
import * as isolatedetcd from "@pulumi/isolatedetcd";

const cluster = new isolatedetcd.Cluster("etcd-dev", {
    centralCount: 3,
    workerCount: 2,
    sshAllowedCidrs: ["203.0.113.0/24"],
});

export const etcdClientEndpoints = cluster.etcdClientEndpoints;
export const etcdCaCert = cluster.etcdCaCert;
export const etcdClientKey = cluster.etcdClientKey;
