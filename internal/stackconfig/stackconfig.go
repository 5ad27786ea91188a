// Package stackconfig reads a stack's config as the program sees it: Load reads
// a Pulumi.<stack>.yaml the way the Pulumi CLI hands it to a program (each
// key's value as a string, structured values as JSON), and ClusterArgs turns
// those values into the Cluster component's arguments. The program reads its
// config through ClusterArgs; tools that must see a stack as the program does
// (tests, the rehearsal) use both.
package stackconfig

import (
	"encoding/json"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// Load returns the stack file's config, keyed "project:key". Encrypted
// secrets cannot be read without the Pulumi CLI and are reported as errors.
func Load(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string]string{}
	for k, v := range file.Config {
		if s, ok := v.(string); ok {
			out[k] = s
			continue
		}
		if m, ok := v.(map[string]any); ok && len(m) == 1 && m["secure"] != nil {
			return nil, fmt.Errorf("%s: %s is an encrypted secret; only the Pulumi CLI can read it", path, k)
		}
		j, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, k, err)
		}
		out[k] = string(j)
	}
	return out, nil
}
