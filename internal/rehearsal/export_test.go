package rehearsal

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/plan"
)

// Shape is the cluster a rehearsal boots, as the program renders it: what
// the tests compare to say that two rehearsals boot the same kind of
// cluster.
type Shape struct {
	Cloud, Flavor, WorkerProxy, Bootstrap string
	// Etcd is the releases the nodes run ("" for etcd2).
	Etcd string
	// TLS is mutual TLS between the nodes; Names, central nodes reached by
	// a name in dnsZone rather than an address.
	TLS, Names       bool
	Central, Workers int
}

func (s Shape) String() string {
	tls, hosts := "plaintext", "addresses"
	if s.TLS {
		tls = "tls"
	}
	if s.Names {
		hosts = "names"
	}
	return fmt.Sprintf("%s/%s/etcd %s/%s/%s/%s/%s, %d central + %d workers",
		s.Cloud, s.Flavor, cmp.Or(s.Etcd, "etcd2"), s.Bootstrap, s.WorkerProxy, tls, hosts, s.Central, s.Workers)
}

// ShapeOf is the cluster Run would boot for o, read as Run reads it (the
// stack, the overrides, a discovery endpoint of the rehearsal's own when the
// members bootstrap through one) without building or starting anything.
func ShapeOf(o Options) (Shape, error) {
	name := components.ClusterName(o.Stack)
	// The address block only places the nodes; any will do.
	args, _, nodes, err := settings(o, name, 1)
	if err != nil {
		return Shape{}, err
	}
	args.SkipDiscoveryCheck = true
	p, err := plan.Read(name, args)
	if err != nil {
		return Shape{}, err
	}
	s := Shape{Cloud: cmp.Or(args.Cloud, components.DefaultCloud), Flavor: string(p.Flavor), WorkerProxy: string(p.WorkerProxy),
		Bootstrap: p.Bootstrap, Etcd: strings.Join(nodes.Releases(), "+"), TLS: p.TLS != nil, Central: len(p.Central), Workers: len(p.Workers)}
	for _, n := range p.Central {
		s.Names = s.Names || n.Host != n.CloudIP
	}
	return s, nil
}
