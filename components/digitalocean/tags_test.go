package digitalocean

import "testing"

func TestTagName(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"env", "dev", "env:dev"},
		{"owner", "ops team", "owner:ops-team"},
		{"cost_center", "R&D/42", "cost_center:R-D-42"},
		{"k8s.io/role", "é", "k8s-io-role:-"},
		{"Team", "Etcd-Core", "Team:Etcd-Core"},
	} {
		if got := tagName(tc.key, tc.value); got != tc.want {
			t.Errorf("tagName(%q, %q) = %q, want %q", tc.key, tc.value, got, tc.want)
		}
	}
}
