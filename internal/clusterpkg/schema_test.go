package clusterpkg

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"slices"
	"testing"

	"github.com/isolatedetcd/cluster/components"
)

var update = flag.Bool("update", false, "rewrite provider/schema.json from Pulumi.yaml")

const (
	projectPath = "../../Pulumi.yaml"
	// schemaPath is what the provider binary serves (it embeds the file, and
	// cannot reach Pulumi.yaml from its directory).
	schemaPath = "../../provider/schema.json"
)

// TestSchemaFollowsPulumiYaml: the schema the provider serves is the one
// Schema makes from Pulumi.yaml as it is now. Changing a config key's
// type, default or description in Pulumi.yaml fails this until
// `go test ./internal/clusterpkg -run TestSchemaFollowsPulumiYaml -update`
// rewrites provider/schema.json.
func TestSchemaFollowsPulumiYaml(t *testing.T) {
	project, err := os.ReadFile(projectPath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Schema(project)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *update {
		if err := os.WriteFile(schemaPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not the schema Pulumi.yaml makes now; rewrite it with go test ./internal/clusterpkg -run TestSchemaFollowsPulumiYaml -update", schemaPath)
	}
}

type schemaProperty struct {
	Type        string            `json:"type"`
	Ref         string            `json:"$ref"`
	Default     any               `json:"default"`
	Description string            `json:"description"`
	Secret      bool              `json:"secret"`
	Plain       bool              `json:"plain"`
	Items       map[string]string `json:"items"`
}

// TestSchemaInputs: every config key is an input with Pulumi.yaml's
// description and default, its type (tls and backup booleans), enums from
// the component's own lists, discoveryUrl secret, and only the inputs the
// component takes as Pulumi inputs not plain.
func TestSchemaInputs(t *testing.T) {
	project, err := os.ReadFile(projectPath)
	if err != nil {
		t.Fatal(err)
	}
	config, err := projectConfig(project)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Schema(project)
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Resources map[string]struct {
			IsComponent bool                      `json:"isComponent"`
			Inputs      map[string]schemaProperty `json:"inputProperties"`
			Outputs     map[string]schemaProperty `json:"properties"`
			Required    []string                  `json:"required"`
		} `json:"resources"`
		Types map[string]struct {
			Enum []struct{ Value string } `json:"enum"`
		} `json:"types"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	r, ok := spec.Resources[components.ClusterType]
	if !ok || !r.IsComponent {
		t.Fatalf("no component %s in the schema", components.ClusterType)
	}
	if len(r.Inputs) != len(config) {
		t.Errorf("%d inputs for %d config keys", len(r.Inputs), len(config))
	}
	for key, c := range config {
		in, ok := r.Inputs[key]
		if !ok {
			t.Errorf("config key %s is no input", key)
			continue
		}
		if in.Description != c.Description {
			t.Errorf("%s: description %q, Pulumi.yaml says %q", key, in.Description, c.Description)
		}
		if d, ok := c.Default.(string); ok && d == "" {
			c.Default = nil
		}
		if _, empty := c.Default.([]any); empty {
			c.Default = nil
		}
		if _, empty := c.Default.(map[string]any); empty {
			c.Default = nil
		}
		if n, ok := c.Default.(int); ok {
			c.Default = float64(n) // as JSON reads it
		}
		if in.Default != c.Default {
			t.Errorf("%s: default %v, Pulumi.yaml says %v", key, in.Default, c.Default)
		}
		wantType := c.Type
		if key == "tls" || key == "backup" || key == "etcdAuth" {
			wantType = "boolean"
		}
		if in.Ref != "" {
			if wantType != "string" {
				t.Errorf("%s: an enum of a %s", key, wantType)
			}
		} else if in.Type != wantType {
			t.Errorf("%s: type %s, want %s", key, in.Type, wantType)
		}
		if in.Secret != (key == "discoveryUrl" || key == "backupIdentity") {
			t.Errorf("%s: secret %v", key, in.Secret)
		}
		if in.Plain == slices.Contains([]string{"image", "sshAuthorizedKeys", "discoveryUrl", "backupIdentity"}, key) {
			t.Errorf("%s: plain %v", key, in.Plain)
		}
	}
	enum := func(key string) []string {
		var values []string
		for _, v := range spec.Types[r.Inputs[key].Ref[len("#/types/"):]].Enum {
			values = append(values, v.Value)
		}
		return values
	}
	for key, want := range map[string][]string{
		"cloud":         {"aws", "digitalocean"},
		"flavor":        {"flatcar", "coreos-etcd2"},
		"workerProxy":   {"gateway", "grpc-proxy", "v2-proxy"},
		"etcdVersion":   {"3.5", "3.6", "3.7"},
		"bootstrap":     {"static", "discovery"},
		"tlsCaRotation": {"trust-next", "sign-next"},
	} {
		if r.Inputs[key].Ref == "" {
			t.Errorf("%s is no enum", key)
			continue
		}
		if got := enum(key); !slices.Equal(got, want) {
			t.Errorf("%s: enum %v, want %v", key, got, want)
		}
	}
	if len(r.Outputs) != len((&components.Cluster{}).Outputs()) || len(r.Required) != len(r.Outputs) {
		t.Errorf("%d outputs (%d required); the component has %d", len(r.Outputs), len(r.Required), len((&components.Cluster{}).Outputs()))
	}
	for name, out := range r.Outputs {
		if out.Description == "" {
			t.Errorf("output %s: no description", name)
		}
		if out.Secret != slices.Contains([]string{"discoveryUrl", "centralCloudConfig", "workerCloudConfig", "etcdClientKey", "backupIdentity"}, name) {
			t.Errorf("output %s: secret %v", name, out.Secret)
		}
	}
	if r.Outputs["centralNames"].Type != "array" || r.Outputs["network"].Type != "object" || r.Outputs["tls"].Type != "string" {
		t.Errorf("output types: centralNames %s, network %s, tls %s", r.Outputs["centralNames"].Type, r.Outputs["network"].Type, r.Outputs["tls"].Type)
	}
}
