// Package configdoc renders docs/configuration.md, the reference of the
// stack's settings and the program's outputs, from the package schema
// (provider/schema.json, itself made from Pulumi.yaml), so that the
// reference an operator reads cannot drift from what the program declares.
package configdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// property is one input or output of the package schema.
type property struct {
	Type        string                 `json:"type"`
	Ref         string                 `json:"$ref"`
	Items       *struct{ Type string } `json:"items"`
	Default     any                    `json:"default"`
	Description string                 `json:"description"`
	Secret      bool                   `json:"secret"`
}

// schema is the part of the package schema the reference shows.
type schema struct {
	Resources map[string]struct {
		InputProperties map[string]property `json:"inputProperties"`
		Properties      map[string]property `json:"properties"`
	} `json:"resources"`
	Types map[string]struct {
		Enum []struct{ Value string } `json:"enum"`
	} `json:"types"`
}

// resource is the component's type token.
const resource = "isolatedetcd:index:Cluster"

// header opens the file: what it is, and how it is made.
const header = `# Configuration

<!-- Generated from provider/schema.json, which is made from Pulumi.yaml: edit Pulumi.yaml, then
run go test ./internal/clusterpkg ./internal/configdoc -update. -->

Set a key with ` + "`pulumi config set <key> <value>`" + ` (a list item with ` + "`--path 'key[0]'`" + `, a secret
with ` + "`--secret`" + `). Every value is checked before anything is created: a bad one stops the run with
a message naming the key, the value and what is allowed, and all problems are reported at once.
A program that uses the component as a package ([component.md](component.md)) passes the same
keys as the ` + "`Cluster`" + ` inputs of the same names (` + "`tls`" + ` and ` + "`backup`" + ` are booleans there).
A default of "-" means the description says what unset does.
`

// docLink turns a mention of a file of docs/ into a link beside it.
var docLink = regexp.MustCompile(`\bdocs/([a-z0-9-]+\.md)\b`)

// Render is docs/configuration.md for the package schema schemaJSON, with
// the settings in the order projectFile (Pulumi.yaml) declares them.
func Render(schemaJSON, projectFile []byte) ([]byte, error) {
	var s schema
	if err := json.Unmarshal(schemaJSON, &s); err != nil {
		return nil, fmt.Errorf("package schema: %w", err)
	}
	r, ok := s.Resources[resource]
	if !ok {
		return nil, fmt.Errorf("package schema: no resource %s", resource)
	}
	keys, err := configOrder(projectFile)
	if err != nil {
		return nil, err
	}
	for k := range r.InputProperties {
		if !slices.Contains(keys, k) {
			return nil, fmt.Errorf("input %s is not a config key of Pulumi.yaml", k)
		}
	}
	var b bytes.Buffer
	b.WriteString(header)
	b.WriteString("\n## Settings\n\n| key | type | default | what |\n|---|---|---|---|\n")
	for _, k := range keys {
		p, ok := r.InputProperties[k]
		if !ok {
			return nil, fmt.Errorf("config key %s of Pulumi.yaml is no input of the package schema", k)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k, typeOf(p, s), defaultOf(p), cell(p.Description))
	}
	b.WriteString("\n## Outputs\n\n`pulumi stack output` shows them; a secret one shows as `[secret]` until `--show-secrets`.\n\n| output | type | what |\n|---|---|---|\n")
	for _, k := range slices.Sorted(maps.Keys(r.Properties)) {
		p := r.Properties[k]
		t := typeOf(p, s)
		if p.Secret {
			t += ", secret"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k, t, cell(p.Description))
	}
	return b.Bytes(), nil
}

// configOrder is the config keys of projectFile in the order it declares
// them: grouped by what they are about, as a reader wants them.
func configOrder(projectFile []byte) ([]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(projectFile, &doc); err != nil {
		return nil, fmt.Errorf("Pulumi.yaml: %w", err)
	}
	if len(doc.Content) == 1 {
		top := doc.Content[0]
		for i := 0; i+1 < len(top.Content); i += 2 {
			if top.Content[i].Value != "config" {
				continue
			}
			var keys []string
			for j := 0; j < len(top.Content[i+1].Content); j += 2 {
				keys = append(keys, top.Content[i+1].Content[j].Value)
			}
			return keys, nil
		}
	}
	return nil, fmt.Errorf("Pulumi.yaml: no config section")
}

// typeOf says what values p takes: an enum's values, or its type.
func typeOf(p property, s schema) string {
	if name, ok := strings.CutPrefix(p.Ref, "#/types/"); ok {
		var vs []string
		for _, e := range s.Types[name].Enum {
			vs = append(vs, "`"+e.Value+"`")
		}
		return strings.Join(vs, ", ")
	}
	switch p.Type {
	case "array":
		return "list of " + p.Items.Type + "s"
	case "object":
		return "map of strings"
	}
	return p.Type
}

// defaultOf is p's default as a stack file would spell it; "-" where the
// default is decided from other settings or is none.
func defaultOf(p property) string {
	switch d := p.Default.(type) {
	case nil:
		return "-"
	case string:
		if d == "" {
			return "-"
		}
		return "`" + d + "`"
	case []any:
		if len(d) == 0 {
			return "none"
		}
	case map[string]any:
		if len(d) == 0 {
			return "none"
		}
	}
	return fmt.Sprintf("`%v`", p.Default)
}

// cell is a description fit for one table cell (a <host> is text, not a
// tag), its mentions of docs/ files made links.
func cell(desc string) string {
	desc = strings.Join(strings.Fields(desc), " ")
	desc = strings.NewReplacer("|", `\|`, "<", "&lt;").Replace(desc)
	return docLink.ReplaceAllString(desc, "[$1]($1)")
}
