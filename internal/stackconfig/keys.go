package stackconfig

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"
)

// DeclaredKeys are the config keys a project file (Pulumi.yaml) declares,
// sorted, without the project's namespace.
func DeclaredKeys(projectFile []byte) ([]string, error) {
	var p struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(projectFile, &p); err != nil {
		return nil, fmt.Errorf("project file: %w", err)
	}
	var keys []string
	for k := range p.Config {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// ConfigKeys are the keys of every config value the stack hands the
// program ("isolated-etcd:workerCount", "aws:region", ...), sorted. The SDK
// offers no way to list them, so they are read from the context's run
// information, which holds them however the program is run (the CLI's
// language host, the Automation API, the mock engine); if the SDK stops
// holding them there this fails, naming what to update, rather than
// letting every key through.
func ConfigKeys(ctx *pulumi.Context) ([]string, error) {
	v := reflect.ValueOf(ctx).Elem().FieldByName("state")
	if v.IsValid() && v.Kind() == reflect.Pointer && !v.IsNil() {
		if v = v.Elem().FieldByName("info"); v.IsValid() {
			v = v.FieldByName("Config")
		}
	}
	if !v.IsValid() || v.Kind() != reflect.Map || v.Type().Key().Kind() != reflect.String {
		return nil, errors.New("stackconfig: the Pulumi SDK no longer keeps the stack's config in pulumi.Context.state.info.Config; update stackconfig.ConfigKeys")
	}
	keys := make([]string, 0, v.Len())
	for _, k := range v.MapKeys() {
		keys = append(keys, k.String())
	}
	slices.Sort(keys)
	return keys, nil
}

// CheckKeys refuses every key of the project's namespace among keys that
// the project does not declare: the CLI validates the declared keys'
// types, and passes any other key through unchecked (v3.259.0), so a
// misspelt setting would otherwise be silently ignored. Each refusal names
// the key, its value (never a secret's), what is allowed, the declared key
// it most likely means, and the command that removes it.
func CheckKeys(project string, declared, keys []string, get func(key string) (string, bool), isSecret func(key string) bool) error {
	var errs []error
	for _, key := range keys {
		name, ok := strings.CutPrefix(key, project+":")
		if !ok || slices.Contains(declared, name) {
			continue
		}
		value, _ := get(key)
		shown := fmt.Sprintf("%q", value)
		if isSecret(key) {
			shown = "[secret]"
		}
		hint := ""
		if near := nearest(name, declared); near != "" {
			hint = fmt.Sprintf(" (did you mean %s?)", near)
		}
		errs = append(errs, fmt.Errorf("config: %s = %s is not a setting of this program%s; the settings are those Pulumi.yaml declares: %s. Remove it with: pulumi config rm %s",
			key, shown, hint, strings.Join(declared, ", "), name))
	}
	return errors.Join(errs...)
}

// nearest is the declared key name most likely meant, "" if none is close:
// the same but for case, or at most two edits away.
func nearest(name string, declared []string) string {
	best, bestDist := "", 3
	for _, d := range declared {
		if strings.EqualFold(d, name) {
			return d
		}
		if dist := editDistance(strings.ToLower(name), strings.ToLower(d)); dist < bestDist {
			best, bestDist = d, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
