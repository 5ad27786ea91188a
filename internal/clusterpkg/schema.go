// Package clusterpkg is the Cluster component's face as a Pulumi package: its
// schema, made from the program's own config schema (Pulumi.yaml), and its
// inputs read back into the settings the Go program reads from stack config.
// The provider binary (provider/) serves both; nothing here needs the engine.
package clusterpkg

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// Name is the package's name: the first part of the component's type token,
// which existing stacks' resources carry and so never changes.
var Name = strings.Split(components.ClusterType, ":")[0]

// outputs are the component's outputs, each with what it holds.
var outputs = map[string]string{
	"discoveryUrl":           "The discovery URL the central members bootstrapped from; empty with static bootstrap.",
	"flavor":                 "What the nodes run, default applied: flatcar or coreos-etcd2.",
	"workerProxy":            "What serves etcd on a worker's 127.0.0.1:2379, default applied: grpc-proxy, gateway or v2-proxy.",
	"etcdVersion":            "The etcd release every flatcar node runs (v3.6.16, ...), or etcd2 on coreos-etcd2.",
	"centralNames":           "The central nodes' names, which are also their etcd member names, in node order.",
	"bootstrap":              "How the members first met: static or discovery.",
	"initialCluster":         "The members' name=peerURL list, as static bootstrap renders it and discovery assembles it.",
	"centralPrivateIps":      "The central nodes' private addresses, in node order.",
	"centralPublicIps":       "The central nodes' public addresses, in node order.",
	"etcdClientEndpoints":    "https://<host>:2379 per central node (http with TLS off): its private address, or its name in dnsZone.",
	"etcdPeerUrls":           "https://<host>:2380 per central node (http with TLS off).",
	"workerGroup":            "The auto scaling group's name (AWS) or the workers' tag (DigitalOcean).",
	"centralCloudConfig":     "Each central node's user data, in node order, exactly as attached; it holds private keys with TLS on.",
	"workerCloudConfig":      "The user data every worker carries, exactly as attached; it holds the workers' private key with TLS on.",
	"network":                "The cloud's network ids: vpcId, and per cloud subnets, security groups or firewalls.",
	"tls":                    "mutual (every etcd connection between nodes is TLS with client certificates) or off.",
	"etcdCaCert":             "The cluster CA's certificate (public); empty with TLS off.",
	"etcdClientCert":         "The operator's client certificate, for etcdctl from outside; empty with TLS off.",
	"etcdClientKey":          "The operator's client key; empty with TLS off.",
	"backupBucket":           "The bucket central nodes upload snapshots to; empty with backups off.",
	"backupPrefix":           "Where in the bucket: <prefix>/<member>/etcd-<UTC time>.db; empty with backups off.",
	"backupListCommand":      "The command that lists the cluster's snapshots, oldest first; empty with backups off.",
	"backupCopyBucket":       "The second bucket, in backupCopyRegion, holding the same snapshots under the same keys; empty without one.",
	"backupRetentionCommand": "The command that prints the snapshots the retention policy (backupKeepHourly, backupKeepDaily, backupKeepWeekly) lets go, for the operator to delete, run from a clone of this repository; empty without a policy.",
	"backupRecipient":        "The age public key (age1...) every snapshot is encrypted to on its node; empty with backups off.",
	"backupIdentity":         "The age identity that decrypts the snapshots: keep a copy outside the stack, a restore needs it (input backupIdentity); empty with backups off.",
}

// secret are the inputs and outputs that always travel as secrets.
var secret = map[string]bool{
	"discoveryUrl": true, "centralCloudConfig": true, "workerCloudConfig": true, "etcdClientKey": true,
	"backupIdentity": true,
}

// booleans are keys Pulumi.yaml types as strings only so that unset differs
// from false (the CLI hands a program every declared default); a package
// input can simply be left out, so they are booleans there.
var booleans = []string{"tls", "backup", "etcdAuth"}

// fromOtherResources are the inputs the component takes as Pulumi inputs,
// checked when they resolve: another resource's output may feed them.
var fromOtherResources = []string{"image", "sshAuthorizedKeys"}

// notPlain are the inputs an SDK takes as Pulumi inputs: those above, and
// discoveryUrl and backupIdentity, which only an input can carry as a
// secret (their values must still be known when the cluster is planned).
// Every other input is checked before anything is created, so it is a
// plain value.
var notPlain = append(slices.Clone(fromOtherResources), "discoveryUrl", "backupIdentity")

// enums are the inputs whose values are fixed, from the lists the
// component checks them against.
func enums() map[string][]string {
	return map[string][]string{
		"cloud":         slices.Sorted(maps.Keys(components.Clouds)),
		"flavor":        strs(cloudconfig.Flavors),
		"workerProxy":   strs(cloudconfig.WorkerProxies),
		"configFormat":  {components.FormatCloudConfig, components.FormatIgnition},
		"etcdVersion":   strs(cloudconfig.EtcdVersions),
		"bootstrap":     {components.BootstrapStatic, components.BootstrapDiscovery},
		"tlsCaRotation": {components.CATrustNext, components.CASignNext},
	}
}

func strs[S ~string](vs []S) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// configKey is one key of Pulumi.yaml's config.
type configKey struct {
	Type  string `yaml:"type"`
	Items *struct {
		Type string `yaml:"type"`
	} `yaml:"items"`
	Default     any    `yaml:"default"`
	Description string `yaml:"description"`
}

// projectConfig reads Pulumi.yaml's config schema.
func projectConfig(projectFile []byte) (map[string]configKey, error) {
	var p struct {
		Config map[string]configKey `yaml:"config"`
	}
	if err := yaml.Unmarshal(projectFile, &p); err != nil {
		return nil, fmt.Errorf("project file: %w", err)
	}
	if len(p.Config) == 0 {
		return nil, fmt.Errorf("project file: no config keys")
	}
	return p.Config, nil
}

// Schema is the package schema (JSON) of the Cluster component: one input
// per key of projectFile's config, with its type, default and description,
// and one output per output of components.Cluster.
func Schema(projectFile []byte) ([]byte, error) {
	config, err := projectConfig(projectFile)
	if err != nil {
		return nil, err
	}
	types := map[string]any{}
	inputs := map[string]any{}
	for key, c := range config {
		p, err := inputProperty(key, c)
		if err != nil {
			return nil, err
		}
		if values, ok := enums()[key]; ok {
			token := Name + ":index:" + strings.ToUpper(key[:1]) + key[1:]
			var enum []map[string]string
			for _, v := range values {
				enum = append(enum, map[string]string{"value": v})
			}
			types[token] = map[string]any{"type": "string", "enum": enum, "description": "The values of " + key + "."}
			delete(p, "type")
			p["$ref"] = "#/types/" + token
		}
		inputs[key] = p
	}
	outs, err := outputProperties()
	if err != nil {
		return nil, err
	}
	spec := map[string]any{
		"name":        Name,
		"displayName": "isolated-etcd",
		"description": "An etcd cluster isolated to a few central nodes; every other node is a worker with a local etcd proxy.",
		"repository":  "https://github.com/isolatedetcd/cluster",
		"language": map[string]any{
			"go": map[string]any{"importBasePath": "github.com/isolatedetcd/cluster/sdk/go/" + Name},
		},
		"resources": map[string]any{
			components.ClusterType: map[string]any{
				"isComponent":     true,
				"description":     "An etcd cluster whose voting members live on a small, fixed, odd set of central nodes, while every other node is a worker that runs only a local etcd proxy on 127.0.0.1:2379. Every input is checked before anything is created.",
				"inputProperties": inputs,
				"properties":      outs,
				"required":        slices.Sorted(maps.Keys(outs)),
			},
		},
		"types": types,
	}
	return json.MarshalIndent(spec, "", "  ")
}

func inputProperty(key string, c configKey) (map[string]any, error) {
	if c.Description == "" {
		return nil, fmt.Errorf("config key %s: no description", key)
	}
	p := map[string]any{"description": c.Description}
	switch c.Type {
	case "string", "integer", "boolean":
		p["type"] = c.Type
	case "array":
		if c.Items == nil || c.Items.Type != "string" {
			return nil, fmt.Errorf("config key %s: an array of what the package cannot say", key)
		}
		p["type"], p["items"] = "array", map[string]string{"type": "string"}
	case "object":
		p["type"], p["additionalProperties"] = "object", map[string]string{"type": "string"}
	default:
		return nil, fmt.Errorf("config key %s: type %q has no schema type here", key, c.Type)
	}
	if slices.Contains(booleans, key) {
		p["type"] = "boolean"
	}
	// Empty defaults mean unset, and the component applies the real one.
	switch d := c.Default.(type) {
	case nil, []any, map[string]any:
	case string:
		if d != "" {
			p["default"] = d
		}
	default:
		p["default"] = d
	}
	if !slices.Contains(notPlain, key) {
		p["plain"] = true
	}
	if secret[key] {
		p["secret"] = true
	}
	return p, nil
}

// outputProperties describes each output of components.Cluster, typed from
// its field.
func outputProperties() (map[string]any, error) {
	props := map[string]any{}
	t := reflect.TypeFor[components.Cluster]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := f.Tag.Lookup("pulumi")
		if !ok {
			continue
		}
		desc, ok := outputs[name]
		if !ok {
			return nil, fmt.Errorf("output %s of components.Cluster has no description in clusterpkg", name)
		}
		p := map[string]any{"description": desc}
		switch f.Type {
		case reflect.TypeFor[pulumi.StringOutput]():
			p["type"] = "string"
		case reflect.TypeFor[pulumi.StringArrayOutput]():
			p["type"], p["items"] = "array", map[string]string{"type": "string"}
		case reflect.TypeFor[pulumi.MapOutput]():
			p["type"], p["additionalProperties"] = "object", map[string]string{"$ref": "pulumi.json#/Any"}
		default:
			return nil, fmt.Errorf("output %s: no schema type for %s", name, f.Type)
		}
		if secret[name] {
			p["secret"] = true
		}
		props[name] = p
	}
	for name := range outputs {
		if _, ok := props[name]; !ok {
			return nil, fmt.Errorf("clusterpkg describes output %s, which components.Cluster does not have", name)
		}
	}
	return props, nil
}
