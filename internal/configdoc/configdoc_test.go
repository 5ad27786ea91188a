package configdoc

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md from provider/schema.json")

const (
	schemaPath    = "../../provider/schema.json"
	projectPath   = "../../Pulumi.yaml"
	referencePath = "../../docs/configuration.md"
)

// TestReferenceFollowsSchema: docs/configuration.md is what Render makes of
// the package schema and Pulumi.yaml as they are now, so a key added,
// retyped or redescribed in Pulumi.yaml fails here until the reference is
// rewritten (internal/clusterpkg's test keeps the schema to Pulumi.yaml).
func TestReferenceFollowsSchema(t *testing.T) {
	schema, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	project, err := os.ReadFile(projectPath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Render(schema, project)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(referencePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/configuration.md differs from what provider/schema.json and Pulumi.yaml say; run go test ./internal/clusterpkg ./internal/configdoc -update and review the diff")
	}
}

// TestRenderRefusesDrift: a key the schema has and Pulumi.yaml lacks, or
// the other way round, is an error, not a table missing a row.
func TestRenderRefusesDrift(t *testing.T) {
	schema := []byte(`{"resources":{"isolatedetcd:index:Cluster":{"inputProperties":{"cloud":{"type":"string","default":"aws","description":"Where."},"extra":{"type":"string"}}}}}`)
	for _, tc := range []struct{ project, want string }{
		{"config:\n  cloud:\n    type: string\n", "input extra is not a config key of Pulumi.yaml"},
		{"config:\n  cloud: {}\n  extra: {}\n  region: {}\n", "config key region of Pulumi.yaml is no input"},
		{"name: x\n", "no config section"},
	} {
		_, err := Render(schema, []byte(tc.project))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("project %q: %v, want %q", tc.project, err, tc.want)
		}
	}
}
