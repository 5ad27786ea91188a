package components_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/components/discovery/discoverytest"
)

// TestDiscoveryPreflight: the component reads the token before registering
// anything, and stops with a plain explanation when it cannot be used.
func TestDiscoveryPreflight(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>hello</html>") }))
	defer garbage.Close()
	cases := []struct {
		name string
		url  func(t *testing.T) string
		want string // empty: the cluster is provisioned
	}{
		{"fresh token of the right size", func(t *testing.T) string { return discoverytest.Server(t, "3") }, ""},
		{"own members already registered", func(t *testing.T) string {
			return discoverytest.Server(t, "3", "etcd-dev-central-0", "etcd-dev-central-1", "etcd-dev-central-2")
		}, ""},
		{"token minted for another size", func(t *testing.T) string { return discoverytest.Server(t, "5") }, "created for 5 members, but centralCount is 3"},
		{"another cluster's members", func(t *testing.T) string { return discoverytest.Server(t, "3", "etcd-prod-central-0") }, "already used by another cluster: members etcd-prod-central-0"},
		{"unreachable service", func(t *testing.T) string { return closed.URL + "/v2/keys/discovery/abc" }, "discoveryCheck false"},
		{"garbage answers", func(t *testing.T) string { return garbage.URL + "/v2/keys/discovery/abc" }, "discoveryCheck false"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := discoveryArgs("aws")
			args.DiscoveryURL, args.SkipDiscoveryCheck = tc.url(t), false
			m, _, err := provision(t, args)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(m.OfType("aws:ec2/instance:Instance")) != 3 {
					t.Error("cluster not provisioned")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "discoveryUrl pre-flight") {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if n := len(m.Resources()); n != 0 {
				t.Errorf("%d resources registered", n)
			}
		})
	}
}
