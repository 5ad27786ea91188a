package rehearsecli

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/isolatedetcd/cluster/internal/plan"
)

// TestParseDefaults: no flags is the dev stack with every proof but the
// upgrade, as the README's first command says.
func TestParseDefaults(t *testing.T) {
	c, err := Parse(nil, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Rehearsal
	if c.Bench != nil || c.JSON || c.Verbose || o.Log != nil || o.Overrides != (plan.Overrides{}) ||
		o.Dir != "." || o.Stack != "dev" || !o.Drills || !o.Demos || !o.Renewal || o.Upgrade || o.BootTimeout != 60*time.Second {
		t.Errorf("defaults: options %+v, command %+v", o, c)
	}
}

// TestParseFlags: every rehearsal flag lands in its option.
func TestParseFlags(t *testing.T) {
	c, err := Parse(strings.Fields("--central 5 --workers 0 --stack prod --dir /p --cloud digitalocean --region nyc3 --dns-zone z.example "+
		"--flavor flatcar --worker-proxy gateway --plaintext --etcd-version 3.5 --bootstrap discovery --image img --config-format ignition "+
		"--drills=false --demos=false --renewal=false --upgrade --boot-timeout 9s --json --verbose"), new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Rehearsal
	if o.Overrides.Central == nil || *o.Overrides.Central != 5 || o.Overrides.Workers == nil || *o.Overrides.Workers != 0 {
		t.Errorf("counts: %v, %v", o.Overrides.Central, o.Overrides.Workers)
	}
	o.Overrides.Central, o.Overrides.Workers = nil, nil
	want := plan.Overrides{Cloud: "digitalocean", Region: "nyc3", DNSZone: "z.example", Flavor: "flatcar", WorkerProxy: "gateway",
		Plaintext: true, EtcdVersion: "3.5", Bootstrap: "discovery", Image: "img", ConfigFormat: "ignition"}
	if o.Overrides != want {
		t.Errorf("overrides %+v, want %+v", o.Overrides, want)
	}
	if o.Stack != "prod" || o.Dir != "/p" || o.Drills || o.Demos || o.Renewal || !o.Upgrade || o.BootTimeout != 9*time.Second || !c.JSON || !c.Verbose || c.Bench != nil {
		t.Errorf("options %+v, command %+v", o, c)
	}
}

// TestParseBench: --bench asks for the benchmark, in the rehearsal's
// project and stack.
func TestParseBench(t *testing.T) {
	c, err := Parse(strings.Fields("--bench --bench-sizes 5,9 --bench-runs 5 --bench-max-load 0.7 --stack prod"), new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if b := c.Bench; b == nil || len(b.Sizes) != 2 || b.Sizes[1] != 9 || b.Runs != 5 || b.MaxLoad != 0.7 || b.Stack != "prod" || b.Dir != "." {
		t.Errorf("bench %+v", c.Bench)
	}
}

// TestParseRefuses: what the command refuses, with its message.
func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ args, msg string }{
		{"--etcd-versoin 3.7", "flag provided but not defined: -etcd-versoin"},
		{"--central three", `invalid value "three" for flag -central: "three" is not a whole number`},
		{"--plaintext gateway", `rehearse: unexpected arguments ["gateway"]`},
		{"--bench --bench-sizes 5,x", `rehearse: --bench-sizes "5,x": "x" is not a whole number`},
	} {
		var out bytes.Buffer
		c, err := Parse(strings.Fields(tc.args), &out)
		if err == nil || c != nil || !strings.Contains(out.String(), tc.msg) {
			t.Errorf("%s: %v, %v, printed %q; want an error printing %q", tc.args, c, err, out.String(), tc.msg)
		}
	}
	var out bytes.Buffer
	if _, err := Parse([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "-etcd-version") {
		t.Errorf("-h: %v, printed %q", err, out.String())
	}
}
