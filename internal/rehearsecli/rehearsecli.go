// Package rehearsecli is cmd/rehearse's command line: the one flag set that
// turns its arguments into what to run. The command parses with it, and so
// does the test that runs every rehearsal command the README shows
// (internal/rehearsal, TestReadmeRehearsals), so a flag means the same in
// both and a flag the command does not know fails both.
package rehearsecli

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/isolatedetcd/cluster/internal/rehearsal"
	"github.com/isolatedetcd/cluster/internal/topobench"
)

// Command is what the flags ask for.
type Command struct {
	// Rehearsal is the rehearsal to run; its Log is left nil for the
	// caller to set.
	Rehearsal     rehearsal.Options
	JSON, Verbose bool
	// Bench, when set, is the benchmark to run instead of the rehearsal
	// (--bench); its Log is left nil too.
	Bench *topobench.Options
	// BenchOut is the directory, under the project directory, the
	// benchmark writes its docs page and plot into (empty: none).
	BenchOut string
}

// optionalInt is an int flag that may stay unset, so the stack's own value
// applies.
type optionalInt struct{ v *int }

func (o *optionalInt) String() string {
	if o == nil || o.v == nil {
		return ""
	}
	return strconv.Itoa(*o.v)
}

func (o *optionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	o.v = &n
	return nil
}

// Parse reads the command's arguments (without the program name). Messages
// and, for a flag it does not know, the usage go to out, as the command
// prints them. It returns flag.ErrHelp for -h and --help; any other error is
// a command line the command refuses.
func Parse(args []string, out io.Writer) (*Command, error) {
	fs := flag.NewFlagSet("rehearse", flag.ContinueOnError)
	fs.SetOutput(out)
	c := &Command{}
	o := &c.Rehearsal
	var central, workers optionalInt
	fs.Var(&central, "central", "centralCount (default: the stack's)")
	fs.Var(&workers, "workers", "workerCount (default: the stack's)")
	fs.StringVar(&o.Stack, "stack", "dev", "the stack whose Pulumi.<stack>.yaml to rehearse")
	fs.StringVar(&o.Dir, "dir", ".", "the project directory (Pulumi.yaml)")
	fs.StringVar(&o.Overrides.Cloud, "cloud", "", "cloud: aws or digitalocean (default: the stack's)")
	fs.StringVar(&o.Overrides.Region, "region", "", "region (default: the stack's; DigitalOcean needs one)")
	fs.StringVar(&o.Overrides.DNSZone, "dns-zone", "", "dnsZone: DigitalOcean's zone for the central nodes' names (default: the stack's)")
	fs.StringVar(&o.Overrides.Flavor, "flavor", "", "flavor: flatcar or coreos-etcd2 (default: the stack's)")
	fs.StringVar(&o.Overrides.WorkerProxy, "worker-proxy", "", "workerProxy: grpc-proxy, gateway or v2-proxy (default: the stack's)")
	fs.StringVar(&o.Overrides.ConfigFormat, "config-format", "", "configFormat: cloud-config or ignition (default: the stack's)")
	fs.BoolVar(&o.Overrides.Plaintext, "plaintext", false, "boot with tls: false, acknowledged, as a cluster made before TLS runs")
	fs.StringVar(&o.Overrides.EtcdVersion, "etcd-version", "", "etcdVersion: 3.5, 3.6 or 3.7 (default: the stack's)")
	fs.StringVar(&o.Overrides.Bootstrap, "bootstrap", "", "bootstrap: static or discovery (default: the stack's)")
	fs.StringVar(&o.Overrides.Image, "image", "", "image (default: the stack's; coreos-etcd2 requires one)")
	fs.BoolVar(&o.Drills, "drills", true, "run the fault drills (lines 3)")
	fs.BoolVar(&o.Demos, "demos", true, "run the pre-flight demos (lines 4)")
	fs.BoolVar(&o.Renewal, "renewal", true, "with TLS and the drills, renew every certificate and rotate the CA under load (lines 6d, 6e)")
	fs.BoolVar(&o.Upgrade, "upgrade", false, "run the upgrade drill (line 5): every node rolled to the next etcd line under writes")
	fs.DurationVar(&o.BootTimeout, "boot-timeout", 60*time.Second, "how long a cluster may take to boot")
	fs.BoolVar(&c.JSON, "json", false, "print the report as JSON, with every claim and all evidence")
	fs.BoolVar(&c.Verbose, "verbose", false, "print every claim in full with all of its evidence")

	bench := fs.Bool("bench", false, "measure etcd everywhere against isolated etcd instead of rehearsing")
	sizes := fs.String("bench-sizes", "5,9,15", "bench: node counts N, comma-separated, each more than 3")
	b := topobench.Options{}
	fs.IntVar(&b.Runs, "bench-runs", 2, "bench: runs per N and topology")
	fs.IntVar(&b.Writes, "bench-writes", 300, "bench: measured sequential writes per run")
	fs.IntVar(&b.Warmup, "bench-warmup", 30, "bench: writes before the measured ones")
	fs.Float64Var(&b.MaxLoad, "bench-max-load", 0, "bench: first wait until the 1-minute load average is below this (0: do not wait)")
	fs.DurationVar(&b.LoadWait, "bench-load-wait", 10*time.Minute, "bench: wait at most this long for --bench-max-load")
	fs.StringVar(&c.BenchOut, "bench-out", "docs", "bench: directory, under --dir, for performance.md and etcd-topologies.svg (empty: write nothing)")
	fs.DurationVar(&b.BootTimeout, "bench-boot-timeout", 120*time.Second, "bench: how long a cluster may take to boot")
	if err := fs.Parse(args); err != nil {
		// The flag set has printed the error and the usage.
		return nil, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments %q", fs.Args())
		fmt.Fprintln(out, "rehearse:", err)
		return nil, err
	}
	o.Overrides.Central, o.Overrides.Workers = central.v, workers.v
	if !*bench {
		return c, nil
	}
	b.Dir, b.Stack = o.Dir, o.Stack
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			err := fmt.Errorf("--bench-sizes %q: %q is not a whole number; want node counts such as 5,9,15", *sizes, f)
			fmt.Fprintln(out, "rehearse:", err)
			return nil, err
		}
		b.Sizes = append(b.Sizes, n)
	}
	c.Bench = &b
	return c, nil
}
