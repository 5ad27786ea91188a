// Package pulumitest runs Pulumi programs under the SDK's mock engine and
// records every resource they register, so tests can assert on types, inputs
// and options without a cloud or the Pulumi CLI.
package pulumitest

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/isolatedetcd/cluster/internal/fakecloud"
)

// Project and Stack are the names programs run under.
const (
	Project = "isolated-etcd"
	Stack   = "dev"
)

// Resource is one registration the program made.
type Resource struct {
	Type   string
	Name   string
	Custom bool
	Inputs resource.PropertyMap
	Parent string
	// Provider is the explicit provider's reference ("urn::id"); "" is the
	// default provider.
	Provider      string
	Protect       bool
	IgnoreChanges []string
	// RetainOnDelete is set when deleting the resource leaves it in the cloud.
	RetainOnDelete bool
	// DeleteBeforeReplace and Dependencies are the resource's options.
	DeleteBeforeReplace bool
	Dependencies        []string
	// Outputs are what the mock answered: the inputs plus cloud-computed fields.
	Outputs resource.PropertyMap
}

// Mocks answers the engine's calls as the fake cloud does, and records
// every registration.
type Mocks struct {
	// Mocks answers; tests may change its AMI and zones.
	fakecloud.Mocks

	mu        sync.Mutex
	resources []Resource
	invokes   []Invoke
}

// Invoke is one data-source call the program made.
type Invoke struct {
	Token string
	// Provider is the explicit provider's reference; "" is the default one.
	Provider string
}

// New returns mocks answering as fakecloud.New.
func New() *Mocks {
	return &Mocks{Mocks: fakecloud.Mocks{Cloud: fakecloud.New()}}
}

// Run runs program under these mocks.
func (m *Mocks) Run(program pulumi.RunFunc) error {
	return pulumi.RunErr(program, pulumi.WithMocks(Project, Stack, m), fakecloud.ProviderConfig())
}

// NewResource records the registration and answers as the fake cloud does.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	id, outs, err := m.Mocks.NewResource(args)
	r := Resource{Type: args.TypeToken, Name: args.Name, Custom: args.Custom, Inputs: args.Inputs, Outputs: outs}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.Provider = rpc.GetProvider()
		r.Protect = rpc.GetProtect()
		r.RetainOnDelete = rpc.GetRetainOnDelete()
		r.IgnoreChanges = rpc.GetIgnoreChanges()
		r.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
		r.Dependencies = rpc.GetDependencies()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resources = append(m.resources, r)
	return id, outs, err
}

// Call records and answers the invokes the backends make.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.invokes = append(m.invokes, Invoke{Token: args.Token, Provider: args.Provider})
	m.mu.Unlock()
	return m.Mocks.Call(args)
}

// Invokes returns every invoke, in order.
func (m *Mocks) Invokes() []Invoke {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.invokes)
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

// UserData is the user data a machine or launch template carries, as the
// node's boot agent reads it: EC2 takes it base64-encoded (an instance's
// userDataBase64, a launch template's userData), and coreos-cloudinit
// gunzips user data that comes gzipped.
func (r Resource) UserData() (string, error) {
	text := String(r.Inputs["userData"])
	encoded := r.Type == "aws:ec2/launchTemplate:LaunchTemplate"
	if b64 := String(r.Inputs["userDataBase64"]); b64 != "" {
		text, encoded = b64, true
	}
	if !encoded {
		return text, nil
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return "", fmt.Errorf("%s: user data is not base64: %w", r.Name, err)
	}
	if !bytes.HasPrefix(b, []byte("\x1f\x8b")) {
		return string(b), nil
	}
	z, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("%s: gzipped user data: %w", r.Name, err)
	}
	b, err = io.ReadAll(z)
	if err != nil {
		return "", fmt.Errorf("%s: gzipped user data: %w", r.Name, err)
	}
	return string(b), nil
}
