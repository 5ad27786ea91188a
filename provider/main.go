// Command pulumi-resource-isolatedetcd serves the Cluster component as a
// Pulumi package, for programs in any language: its schema (schema.json,
// made from Pulumi.yaml by internal/clusterpkg) and its construction, by the
// same components.NewCluster the Go program calls.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/clusterpkg"
)

// version is the package's, set at release with
// -ldflags "-X main.version=X.Y.Z".
var version = "0.0.0-dev"

//go:embed schema.json
var schema []byte

func main() {
	// The schema carries the version: SDK generation (pulumi package add)
	// refuses a schema without one.
	var spec map[string]any
	if err := json.Unmarshal(schema, &spec); err != nil {
		fmt.Fprintln(os.Stderr, "schema.json:", err)
		os.Exit(1)
	}
	spec["version"] = version
	versioned, err := json.Marshal(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "schema.json:", err)
		os.Exit(1)
	}
	err = p.RunProvider(context.Background(), clusterpkg.Name, version, p.Provider{
		GetSchema: func(context.Context, p.GetSchemaRequest) (p.GetSchemaResponse, error) {
			return p.GetSchemaResponse{Schema: string(versioned)}, nil
		},
		Construct: construct,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// construct reads the inputs as the Go program reads stack config and
// hands them to components.NewCluster, which checks every one before it
// registers anything.
func construct(ctx context.Context, req p.ConstructRequest) (p.ConstructResponse, error) {
	if typ := req.Urn.Type(); string(typ) != components.ClusterType {
		return p.ConstructResponse{}, fmt.Errorf("unknown component type %s; this package has %s", typ, components.ClusterType)
	}
	return p.ProgramConstruct(ctx, req, func(ctx *pulumi.Context, _, name string, inputs provider.ConstructInputs, opts pulumi.ResourceOption) (*provider.ConstructResult, error) {
		outputs, err := inputs.Map()
		if err != nil {
			return nil, err
		}
		args, err := clusterpkg.Args(ctx.Stack(), req.Inputs, outputs)
		if err != nil {
			return nil, err
		}
		cluster, err := components.NewCluster(ctx, name, args, opts)
		if err != nil {
			return nil, err
		}
		return provider.NewConstructResult(cluster)
	})
}
