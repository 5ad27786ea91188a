package components_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/coreos-cloudinit/config"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// TestAuthUserData: with TLS, every central node carries the script that
// turns authentication on (the members and the operator root, the workers'
// user with the password the workers carry); etcdAuth false renders none.
func TestAuthUserData(t *testing.T) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		t.Run(cloud, func(t *testing.T) {
			m, _ := mustProvision(t, validArgs(cloud))
			ws := workers(m, cloud)
			if len(ws) == 0 {
				t.Fatal("no workers")
			}
			creds, ok := files(t, userData(t, ws[0]))[cloudconfig.AuthCredentials]
			if !ok {
				t.Fatalf("no %s on the workers", cloudconfig.AuthCredentials)
			}
			user, password, _ := strings.Cut(strings.TrimSpace(creds.Content), ":")
			if user != "etcd-dev-workers" || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(password) {
				t.Fatalf("workers' credentials %q: want etcd-dev-workers and a 32-digit hex password", creds.Content)
			}
			cs := centrals(m, cloud)
			for _, c := range cs {
				f, ok := files(t, userData(t, c))[cloudconfig.AuthScript]
				if !ok {
					t.Fatalf("%s: no %s", c.Name, cloudconfig.AuthScript)
				}
				script, err := config.DecodeContent(f.Content, f.Encoding)
				if err != nil {
					t.Fatal(err)
				}
				want := []string{"for n in root etcd-dev-central-0 etcd-dev-central-1 etcd-dev-central-2 etcd-dev-central-3 etcd-dev-central-4 etcd-dev-central-5 etcd-dev-central-6 etcd-dev-operator;",
					"w=etcd-dev-workers", "--new-user-password=" + password, `readwrite '' --prefix`}
				for _, w := range want {
					if !strings.Contains(string(script), w) {
						t.Errorf("%s: no %q in its script:\n%s", c.Name, w, script)
					}
				}
			}
		})
	}
	args := validArgs("aws")
	args.EtcdAuth = ptr(false)
	m, _ := mustProvision(t, args)
	for _, r := range append(centrals(m, "aws"), workers(m, "aws")...) {
		if ud := userData(t, r); strings.Contains(ud, cloudconfig.AuthScript) || strings.Contains(ud, cloudconfig.AuthCredentials) {
			t.Errorf("%s: authentication rendered with etcdAuth false", r.Name)
		}
	}
}

// TestAuthPrefixesRendered: workerKeyPrefixes become the workers' grants.
func TestAuthPrefixesRendered(t *testing.T) {
	args := validArgs("aws")
	args.WorkerKeyPrefixes = []string{"/registry/", "/app/"}
	m, _ := mustProvision(t, args)
	f := files(t, userData(t, centrals(m, "aws")[0]))[cloudconfig.AuthScript]
	script, err := config.DecodeContent(f.Content, f.Encoding)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), `readwrite '/registry/' --prefix`) || !strings.Contains(string(script), `readwrite '/app/' --prefix`) || strings.Contains(string(script), `readwrite ''`) {
		t.Errorf("want grants on /registry/ and /app/ only:\n%s", script)
	}
}

func TestAuthSettingsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*components.ClusterArgs)
		want   []string
	}{
		{"auth without TLS", func(a *components.ClusterArgs) {
			a.TLS, a.PlaintextAcknowledged, a.WorkerProxy, a.EtcdAuth = ptr(false), true, "gateway", ptr(true)
		}, []string{"etcdAuth: true needs tls"}},
		{"prefixes with auth off", func(a *components.ClusterArgs) { a.EtcdAuth, a.WorkerKeyPrefixes = ptr(false), []string{"/app/"} },
			[]string{`workerKeyPrefixes: ["/app/"]`, "etcdAuth on"}},
		{"an empty prefix", func(a *components.ClusterArgs) { a.WorkerKeyPrefixes = []string{"/app/", ""} }, []string{`workerKeyPrefixes[1]: ""`, "unset the list for every key"}},
		{"a prefix breaking the script", func(a *components.ClusterArgs) { a.WorkerKeyPrefixes = []string{"/a' x"} }, []string{`workerKeyPrefixes[0]: "/a' x"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs("aws")
			tc.change(&args)
			refused(t, args, tc.want...)
		})
	}
}
