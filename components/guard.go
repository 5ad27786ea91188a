package components

import (
	"fmt"
	"slices"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// GuardType is the type token of the cluster's destroy guard.
const GuardType = "isolatedetcd:index:DestroyGuard"

// guard is a resource with no cloud behind it that depends on every resource
// of the cluster.
type guard struct{ pulumi.ResourceState }

// newGuard registers c's destroy guard, depending on resources and
// protected with protect. The engine deletes a resource only after
// everything that depends on it, so any deletion of the whole cluster
// (pulumi destroy, with or without a preview; an update of a program that
// no longer declares it) must begin with the guard; protected, it refuses,
// and the deletion stops before it reaches a single resource, workers
// included. Unprotected, it goes first and harmlessly.
func newGuard(ctx *pulumi.Context, name string, c *Cluster, resources []pulumi.Resource, protect bool) error {
	err := ctx.RegisterComponentResource(GuardType, name+"-guard", &guard{},
		pulumi.Parent(c), pulumi.DependsOn(resources), pulumi.Protect(protect))
	if err != nil {
		return fmt.Errorf("cluster %s: destroy guard: %w", name, err)
	}
	return nil
}

// customResources records every custom resource registered below a
// component, as it is registered. (Depending on the component itself would
// expand to its children too, but only to those whose registration has
// got far enough by then: a race.)
type customResources struct {
	mu        sync.Mutex
	resources []pulumi.Resource
}

// option is the resource option that records the resource's descendants:
// a transformation, which the SDK runs at each registration below it and
// which changes nothing.
func (r *customResources) option() pulumi.ResourceOption {
	return pulumi.Transformations([]pulumi.ResourceTransformation{func(args *pulumi.ResourceTransformationArgs) *pulumi.ResourceTransformationResult {
		if res, ok := args.Resource.(pulumi.CustomResource); ok {
			r.mu.Lock()
			r.resources = append(r.resources, res)
			r.mu.Unlock()
		}
		return nil
	}})
}

// list is what has been recorded so far.
func (r *customResources) list() []pulumi.Resource {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.resources)
}
