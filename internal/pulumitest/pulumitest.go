// Package pulumitest runs Pulumi programs under the SDK's mock engine and
// records every resource they register, so tests can assert on types, inputs
// and options without a cloud or the Pulumi CLI.
package pulumitest

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

// Project and Stack are the names programs run under.
const (
	Project = "isolated-etcd"
	Stack   = "dev"
)

// Resource is one registration the program made.
type Resource struct {
	Type          string
	Name          string
	Custom        bool
	Inputs        resource.PropertyMap
	Parent        string
	Protect       bool
	IgnoreChanges []string
	// DeleteBeforeReplace and Dependencies are the resource's options.
	DeleteBeforeReplace bool
	Dependencies        []string
	// Outputs are what the mock answered: the inputs plus cloud-computed fields.
	Outputs resource.PropertyMap
}

// Mocks answers the engine's calls like a cloud would, and records resources.
type Mocks struct {
	// AMI is what the Flatcar AMI lookup returns; Zones the availability zones.
	AMI   string
	Zones []string

	mu        sync.Mutex
	resources []Resource
}

// New returns mocks with a fixed AMI and three zones.
func New() *Mocks {
	return &Mocks{AMI: "ami-0123456789abcdef0", Zones: []string{"us-east-2a", "us-east-2b", "us-east-2c"}}
}

// Run runs program under these mocks.
func (m *Mocks) Run(program pulumi.RunFunc) error {
	return pulumi.RunErr(program, pulumi.WithMocks(Project, Stack, m))
}

// NewResource records the registration and answers with the inputs plus the
// fields a cloud computes (ids, addresses).
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	outs := args.Inputs.Copy()
	id := args.Name + "-id"
	// Ids and addresses derive from the name, so two runs of a program
	// answer alike whatever order the engine registers resources in.
	h := fnv.New32a()
	h.Write([]byte(args.Name))
	n := h.Sum32()
	private := fmt.Sprintf("10.21.%d.%d", n>>8%256, n%250+2)
	public := fmt.Sprintf("203.0.113.%d", n%250+2)
	switch args.TypeToken {
	case "aws:ec2/instance:Instance":
		if !outs.HasValue("privateIp") {
			outs["privateIp"] = resource.NewStringProperty(private)
		}
		outs["publicIp"] = resource.NewStringProperty(public)
		id = fmt.Sprintf("i-%017x", n)
	case "digitalocean:index/droplet:Droplet":
		outs["ipv4AddressPrivate"] = resource.NewStringProperty(private)
		outs["ipv4Address"] = resource.NewStringProperty(public)
		id = fmt.Sprint(n)
	case "digitalocean:index/customImage:CustomImage":
		outs["imageId"] = resource.NewNumberProperty(424242)
	case "aws:autoscaling/group:Group":
		if !outs.HasValue("name") {
			outs["name"] = resource.NewStringProperty(args.Name)
		}
	case "aws:ec2/launchTemplate:LaunchTemplate":
		outs["latestVersion"] = resource.NewNumberProperty(1)
	}
	r := Resource{Type: args.TypeToken, Name: args.Name, Custom: args.Custom, Inputs: args.Inputs, Outputs: outs}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.Protect = rpc.GetProtect()
		r.IgnoreChanges = rpc.GetIgnoreChanges()
		r.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
		r.Dependencies = rpc.GetDependencies()
	}
	m.resources = append(m.resources, r)
	return id, outs, nil
}

// Call answers the invokes the backends make.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	switch args.Token {
	case "aws:ec2/getAmi:getAmi":
		return resource.NewPropertyMapFromMap(map[string]any{"id": m.AMI, "imageId": m.AMI, "name": "Flatcar-stable-4459.2.1-hvm"}), nil
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		return resource.NewPropertyMapFromMap(map[string]any{"id": "zones", "names": m.Zones}), nil
	}
	return nil, fmt.Errorf("pulumitest: no mock for invoke %s", args.Token)
}

// Resources returns every registration, in order.
func (m *Mocks) Resources() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.resources)
}

// OfType returns the registrations of one resource type, in order.
func (m *Mocks) OfType(typ string) []Resource {
	var out []Resource
	for _, r := range m.Resources() {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Named returns the registration called name, or false.
func (m *Mocks) Named(name string) (Resource, bool) {
	for _, r := range m.Resources() {
		if r.Name == name {
			return r, true
		}
	}
	return Resource{}, false
}

// Await blocks, inside a program run by Run, until o resolves, and returns its
// value and whether it is secret.
func Await(ctx *pulumi.Context, o pulumi.Output) (value any, secret bool, err error) {
	r, err := internals.UnsafeAwaitOutput(ctx.Context(), o)
	return r.Value, r.Secret, err
}

// Plain unwraps secrets and known outputs, which carry their value inside.
func Plain(v resource.PropertyValue) resource.PropertyValue {
	for {
		switch {
		case v.IsSecret():
			v = v.SecretValue().Element
		case v.IsOutput() && v.OutputValue().Known:
			v = v.OutputValue().Element
		default:
			return v
		}
	}
}

// String is v's string, unwrapped, or "" when v holds no string.
func String(v resource.PropertyValue) string {
	if v = Plain(v); v.IsString() {
		return v.StringValue()
	}
	return ""
}

// UserData is the user data text a machine or launch template carries;
// launch templates take it base64-encoded.
func (r Resource) UserData() (string, error) {
	text := String(r.Inputs["userData"])
	if r.Type != "aws:ec2/launchTemplate:LaunchTemplate" {
		return text, nil
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return "", fmt.Errorf("launch template %s: user data is not base64: %w", r.Name, err)
	}
	return string(b), nil
}
