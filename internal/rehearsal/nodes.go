package rehearsal

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
	"github.com/isolatedetcd/cluster/internal/stackconfig"
)

// Overrides replace the stack's values; nil or empty leaves a value as the
// stack has it.
type Overrides struct {
	Central     *int
	Workers     *int
	Flavor      string
	WorkerProxy string
	Image       string
}

// ConfigError is a stack or flag value the program itself rejects; its
// message is the program's.
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return e.Err.Error() }
func (e ConfigError) Unwrap() error { return e.Err }

// StackArgs reads Pulumi.<stack>.yaml in dir the way the program reads its
// config, then applies o.
func StackArgs(dir, stack string, o Overrides) (components.ClusterArgs, error) {
	project, err := projectName(dir)
	if err != nil {
		return components.ClusterArgs{}, err
	}
	values, err := stackconfig.Load(filepath.Join(dir, "Pulumi."+stack+".yaml"))
	if err != nil {
		return components.ClusterArgs{}, ConfigError{err}
	}
	args, err := stackconfig.ClusterArgs(
		func(k string) (string, bool) { v, ok := values[project+":"+k]; return v, ok },
		func(string) bool { return false }, // stackconfig.Load refuses encrypted values
	)
	if err != nil {
		return args, ConfigError{err}
	}
	if o.Central != nil {
		args.CentralCount = *o.Central
	}
	if o.Workers != nil {
		args.WorkerCount = *o.Workers
	}
	for _, kv := range []struct {
		dst *string
		v   string
	}{{&args.Flavor, o.Flavor}, {&args.WorkerProxy, o.WorkerProxy}} {
		if kv.v != "" {
			*kv.dst = kv.v
		}
	}
	if o.Image != "" {
		args.Image = pulumi.String(o.Image)
	}
	return args, nil
}

func projectName(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "Pulumi.yaml"))
	if err != nil {
		return "", err
	}
	var p struct {
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal(b, &p); err != nil || p.Name == "" {
		return "", fmt.Errorf("%s: no project name (%v)", filepath.Join(dir, "Pulumi.yaml"), err)
	}
	return p.Name, nil
}

// Role is what a node is for.
type Role string

const (
	Central Role = "central"
	Worker  Role = "worker"
)

// Node is one machine as the program provisions it.
type Node struct {
	Name string
	Role Role
	// CloudIP is the private address the (mock) cloud gave a central node;
	// the worker user data names the members by it.
	CloudIP  string
	UserData string
}

// Plan is every node of one cluster with the user data the program attaches.
type Plan struct {
	Cluster     string
	Flavor      cloudconfig.Flavor
	WorkerProxy cloudconfig.WorkerProxy
	Central     []Node
	Workers     []Node
}

// Resource types that carry user data, and the group that sizes a template.
const (
	awsInstance       = "aws:ec2/instance:Instance"
	awsLaunchTemplate = "aws:ec2/launchTemplate:LaunchTemplate"
	awsGroup          = "aws:autoscaling/group:Group"
	doDroplet         = "digitalocean:index/droplet:Droplet"
)

// UserData runs components.NewCluster under the mock engine with args and
// collects the user data it attaches to every machine: the program's own
// rendering, never a second one. Errors from NewCluster are ConfigErrors.
func UserData(cluster string, args components.ClusterArgs) (*Plan, error) {
	m := pulumitest.New()
	var cfgErr error
	err := m.Run(func(ctx *pulumi.Context) error {
		_, err := components.NewCluster(ctx, cluster, args)
		cfgErr = err
		return err
	})
	if cfgErr != nil {
		return nil, ConfigError{cfgErr}
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s under the mock engine: %w", cluster, err)
	}

	comp := m.OfType(components.ClusterType)
	if len(comp) != 1 {
		return nil, fmt.Errorf("cluster %s: %d %s resources registered, want 1", cluster, len(comp), components.ClusterType)
	}
	in := comp[0].Inputs
	plan := &Plan{
		Cluster:     cluster,
		Flavor:      cloudconfig.Flavor(pulumitest.String(in["flavor"])),
		WorkerProxy: cloudconfig.WorkerProxy(pulumitest.String(in["workerProxy"])),
	}
	centralCount := int(pulumitest.Plain(in["centralCount"]).NumberValue())
	byName := map[string]Node{}
	templates, groupSize := 0, 0
	var templateData string
	for _, r := range m.Resources() {
		ip := map[string]resource.PropertyKey{awsInstance: "privateIp", doDroplet: "ipv4AddressPrivate"}[r.Type]
		switch r.Type {
		case awsInstance, doDroplet, awsLaunchTemplate:
			text, err := r.UserData()
			if err != nil {
				return nil, err
			}
			if r.Type == awsLaunchTemplate {
				templates, templateData = templates+1, text
				continue
			}
			byName[r.Name] = Node{Name: r.Name, CloudIP: pulumitest.String(r.Outputs[ip]), UserData: text}
		case awsGroup:
			groupSize += int(pulumitest.Plain(r.Inputs["desiredCapacity"]).NumberValue())
		}
	}
	for i := range centralCount {
		name := components.CentralName(cluster, i)
		n, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("cluster %s: no machine named %s", cluster, name)
		}
		delete(byName, name)
		n.Role = Central
		plan.Central = append(plan.Central, n)
	}
	if templates > 1 {
		return nil, fmt.Errorf("cluster %s: %d worker launch templates, want 1", cluster, templates)
	}
	for j := range groupSize {
		plan.Workers = append(plan.Workers, Node{Name: cloud.WorkerName(cluster, j), Role: Worker, UserData: templateData})
	}
	for j := 0; len(byName) > 0; j++ {
		n, ok := byName[cloud.WorkerName(cluster, j)]
		if !ok {
			return nil, fmt.Errorf("cluster %s: machines %s are neither central nodes nor workers %s-worker-<n>", cluster, keys(byName), cluster)
		}
		delete(byName, n.Name)
		n.Role = Worker
		plan.Workers = append(plan.Workers, n)
	}
	for _, n := range append(append([]Node{}, plan.Central...), plan.Workers...) {
		if n.UserData == "" {
			return nil, errors.New("machine " + n.Name + " carries no user data")
		}
	}
	return plan, nil
}

func plain(v resource.PropertyValue) resource.PropertyValue { return pulumitest.Plain(v) }
func str(v resource.PropertyValue) string                   { return pulumitest.String(v) }

func keys(m map[string]Node) string { return strings.Join(slices.Sorted(maps.Keys(m)), ", ") }
