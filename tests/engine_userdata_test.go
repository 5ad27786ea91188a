package tests

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/isolatedetcd/cluster/components"
)

// TestEngineUserDataMoved: AWS central instances take their user data in
// userDataBase64 (it may be gzipped). A stack whose instances were made
// when it went in userData keeps them untouched through preview and update;
// a roll moves the rolled instance, and only it, to userDataBase64.
// The updates run as the Automation API runs them, without a preview.
func TestEngineUserDataMoved(t *testing.T) {
	e, s, journal := protectedStack(t, "aws")
	cluster := components.ClusterName(s.name)

	// The state such a stack has: each central instance's user data as text
	// in userData.
	var state map[string]any
	if err := json.Unmarshal([]byte(e.Run(t, "stack", "export", "--show-secrets", "--stack", s.name)), &state); err != nil {
		t.Fatal(err)
	}
	instances, moved := 0, 0
	for _, r := range state["deployment"].(map[string]any)["resources"].([]any) {
		r := r.(map[string]any)
		if r["type"] != machineType["aws"] {
			continue
		}
		instances++
		for _, key := range []string{"inputs", "outputs"} {
			props := r[key].(map[string]any)
			if props["userDataBase64"] == nil {
				continue
			}
			props["userData"] = mapSecret(t, props["userDataBase64"], func(b64 string) string {
				text, err := base64.StdEncoding.DecodeString(b64)
				if err != nil {
					t.Fatal(err)
				}
				return string(text)
			})
			delete(props, "userDataBase64")
			moved++
		}
	}
	if instances == 0 || moved != 2*instances {
		t.Fatalf("moved the user data of %d inputs and outputs of %d instances, want both of each", moved, instances)
	}
	file := filepath.Join(t.TempDir(), "state.json")
	b, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	e.Run(t, "stack", "import", "--stack", s.name, "--file", file)

	if touched := touchedCentral(s.preview()); len(touched) != 0 {
		t.Errorf("preview of a stack with user data in userData changes central resources: %v", touched)
	}
	seen := len(journalSince(t, journal, 0))
	if touched := touchedCentral(s.up()); len(touched) != 0 {
		t.Errorf("update of a stack with user data in userData changes central resources: %v", touched)
	}
	if changes := journalSince(t, journal, seen); len(changes) != 0 {
		t.Errorf("update of a stack with user data in userData asked the cloud for %v", changes)
	}

	rolled := components.CentralName(cluster, 1)
	s.config("rollCentral", rolled)
	if op := s.up().op(machineType["aws"], rolled); op != apitype.OpUpdate {
		t.Errorf("rollCentral: %s was %q, want update (the same bytes, in the other key)", rolled, op)
	}
	for _, r := range exportState(t, e, s.name) {
		if r.Type != machineType["aws"] {
			continue
		}
		_, text := r.Inputs["userData"]
		_, encoded := r.Inputs["userDataBase64"]
		if want := strings.HasSuffix(r.URN, "::"+rolled); encoded != want || text == want {
			t.Errorf("%s: inputs hold userData %v, userDataBase64 %v; want userDataBase64 only on the rolled %s", r.URN, text, encoded, rolled)
		}
	}
}

// mapSecret is v, a string or a secret as `pulumi stack export
// --show-secrets` prints one, with its string mapped by f.
func mapSecret(t *testing.T, v any, f func(string) string) any {
	t.Helper()
	if s, ok := v.(string); ok {
		return f(s)
	}
	secret, ok := v.(map[string]any)
	plain, isString := secret["plaintext"].(string)
	if !ok || !isString {
		t.Fatalf("user data is %v, neither a string nor a shown secret", v)
	}
	var s string
	if err := json.Unmarshal([]byte(plain), &s); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(f(s))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for k, v := range secret {
		out[k] = v
	}
	out["plaintext"] = string(b)
	return out
}
