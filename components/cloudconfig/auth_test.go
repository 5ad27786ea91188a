package cloudconfig_test

import (
	"strings"
	"testing"

	"github.com/coreos/coreos-cloudinit/config"
	"github.com/coreos/coreos-cloudinit/config/validate"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// testAuth is the authentication of the tests' TLS cluster.
var testAuth = cloudconfig.Auth{
	Roots:   []string{"etcd-dev-central-0", "etcd-dev-central-1", "etcd-dev-central-2", "etcd-dev-operator"},
	Workers: "etcd-dev-workers", Password: "0123456789abcdef0123456789abcdef", KeyPrefixes: []string{""},
}

// authSettings is a TLS cluster with authentication, statically bootstrapped.
func authSettings(t *testing.T) cloudconfig.Settings {
	a := testAuth
	return cloudconfig.Settings{Flavor: cloudconfig.Flatcar, WorkerProxy: cloudconfig.GRPCProxy, EtcdVersion: cloudconfig.Etcd36,
		InitialCluster: []cloudconfig.Member{{Name: "etcd-dev-central-0", Host: "10.21.0.10"}, {Name: "etcd-dev-central-1", Host: "10.21.16.10"}, {Name: "etcd-dev-central-2", Host: "10.21.32.10"}},
		ClusterToken:   "etcd-dev", TLS: testTLS(t, "member"), Housekeeping: housekeeping, Auth: &a}
}

// TestAuthGolden renders a central node and a worker of a cluster with
// authentication, passes both through coreos-cloudinit's validator, and
// compares them, and the script decoded as the node writes it, with their
// golden files.
func TestAuthGolden(t *testing.T) {
	c := authSettings(t)
	central, err := c.Central("etcd-dev-central-0", "/dev/xvdf")
	if err != nil {
		t.Fatal(err)
	}
	c.TLS = testTLS(t, "client")
	worker, err := c.Worker(endpoints)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"flatcar-etcd3.6-static-grpc-proxy-auth-central.yaml": central, "flatcar-etcd3.6-static-grpc-proxy-auth-worker.yaml": worker} {
		t.Run(name, func(t *testing.T) {
			report, err := validate.Validate([]byte(text))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range report.Entries() {
				t.Error(e.String())
			}
			golden(t, name, []byte(text))
		})
	}
	golden(t, "auth.sh", writtenFile(t, central, cloudconfig.AuthScript))
	if !strings.Contains(worker, testAuth.Workers+":"+testAuth.Password) {
		t.Errorf("the worker's user data has no %s credentials", testAuth.Workers)
	}
}

// TestAuthPrefixes: a prefix list grants each prefix; "" grants every key.
func TestAuthPrefixes(t *testing.T) {
	for _, tc := range []struct {
		prefixes []string
		want     []string
	}{
		{[]string{""}, []string{`readwrite '' --prefix`}},
		{[]string{"/app/", "/registry/"}, []string{`readwrite '/app/' --prefix`, `readwrite '/registry/' --prefix`}},
	} {
		c := authSettings(t)
		c.Auth.KeyPrefixes = tc.prefixes
		text, err := c.Central("etcd-dev-central-0", "/dev/xvdf")
		if err != nil {
			t.Fatal(err)
		}
		cc, err := config.NewCloudConfig(text)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range cc.WriteFiles {
			if f.Path != cloudconfig.AuthScript {
				continue
			}
			script, err := config.DecodeContent(f.Content, f.Encoding)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(script), w) {
					t.Errorf("prefixes %q: no %q in the script:\n%s", tc.prefixes, w, script)
				}
			}
			if n := strings.Count(string(script), "grant-permission"); n != len(tc.prefixes) {
				t.Errorf("prefixes %q: %d grants, want %d", tc.prefixes, n, len(tc.prefixes))
			}
		}
	}
}

func TestAuthRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*cloudconfig.Settings)
		want   string
	}{
		{"without TLS", func(c *cloudconfig.Settings) { c.TLS, c.WorkerProxy = nil, cloudconfig.Gateway }, "TLS only"},
		{"no key prefix", func(c *cloudconfig.Settings) { c.Auth.KeyPrefixes = nil }, "at least one key prefix"},
		{"prefix breaking the script", func(c *cloudconfig.Settings) { c.Auth.KeyPrefixes = []string{"/a' ; rm -rf / '"} }, "key prefix"},
		{"every key beside a prefix", func(c *cloudconfig.Settings) { c.Auth.KeyPrefixes = []string{"", "/a/"} }, "alone"},
		{"password breaking the script", func(c *cloudconfig.Settings) { c.Auth.Password = "0123456789abcdef0123456789abcdef; x" }, "password hex"},
		{"root user breaking the script", func(c *cloudconfig.Settings) { c.Auth.Roots = []string{"a; b"} }, "users"},
		{"no workers' user", func(c *cloudconfig.Settings) { c.Auth.Workers = "" }, "users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := authSettings(t)
			a := *c.Auth
			c.Auth = &a
			tc.change(&c)
			_, err := c.Central("etcd-dev-central-0", "/dev/xvdf")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
