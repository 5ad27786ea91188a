// Command rehearse boots a stack's cluster locally, as real etcd processes on
// loopback addresses fed the exact user data the program attaches, and proves
// the isolated topology before any cloud is paid for.
//
//	go run ./cmd/rehearse                 # stack dev, every proof
//	go run ./cmd/rehearse --workers 20 --json
//	go run ./cmd/rehearse --bench         # etcd everywhere vs isolated, measured
//
// With --bench it boots N nodes in two topologies, every node a voting
// member and 3 members + N-3 gateway workers, measures write latency and the
// recovery from a killed leader through the last node's endpoint, prints a
// markdown table and writes it, with a plot, to docs/performance.md (section 3) and
// docs/etcd-topologies.svg (--bench-out).
//
// Exit status: 0 when every proof holds (or the bench ran), 1 when one fails
// or the rehearsal cannot run, 2 for settings the program rejects.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/isolatedetcd/cluster/internal/plan"
	"github.com/isolatedetcd/cluster/internal/rehearsal"
	"github.com/isolatedetcd/cluster/internal/topobench"
)

func main() {
	c, code := parseFlags(os.Args[1:])
	if c == nil {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.bench != nil {
		os.Exit(runBench(ctx, *c.bench, c.asJSON, c.benchOut))
	}
	os.Exit(rehearse(ctx, c.rehearsal, c.asJSON, c.verbose))
}

// command is what the flags ask for.
type command struct {
	rehearsal       rehearsal.Options
	asJSON, verbose bool
	bench           *topobench.Options // nil: rehearse
	benchOut        string
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

// parseFlags reads args into a command; a nil command means exit with code.
func parseFlags(args []string) (*command, int) {
	fs := flag.NewFlagSet("rehearse", flag.ContinueOnError)
	c := &command{}
	o := &c.rehearsal
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
	fs.BoolVar(&o.Overrides.Plaintext, "plaintext", false, "boot with tls: false, acknowledged, as a cluster made before TLS runs")
	fs.StringVar(&o.Overrides.EtcdVersion, "etcd-version", "", "etcdVersion: 3.5, 3.6 or 3.7 (default: the stack's)")
	fs.StringVar(&o.Overrides.Bootstrap, "bootstrap", "", "bootstrap: static or discovery (default: the stack's)")
	fs.StringVar(&o.Overrides.Image, "image", "", "image (default: the stack's; coreos-etcd2 requires one)")
	fs.BoolVar(&o.Drills, "drills", true, "run the fault drills (lines 3)")
	fs.BoolVar(&o.Demos, "demos", true, "run the pre-flight demos (lines 4)")
	fs.BoolVar(&o.Renewal, "renewal", true, "with TLS and the drills, renew every certificate and rotate the CA under load (lines 6d, 6e)")
	fs.BoolVar(&o.Upgrade, "upgrade", false, "run the upgrade drill (line 5): every node rolled to the next etcd line under writes")
	fs.DurationVar(&o.BootTimeout, "boot-timeout", 60*time.Second, "how long a cluster may take to boot")
	fs.BoolVar(&c.asJSON, "json", false, "print the report as JSON, with every claim and all evidence")
	fs.BoolVar(&c.verbose, "verbose", false, "print every claim in full with all of its evidence")

	bench := fs.Bool("bench", false, "measure etcd everywhere against isolated etcd instead of rehearsing")
	sizes := fs.String("bench-sizes", "5,9,15", "bench: node counts N, comma-separated, each more than 3")
	b := topobench.Options{}
	fs.IntVar(&b.Runs, "bench-runs", 2, "bench: runs per N and topology")
	fs.IntVar(&b.Writes, "bench-writes", 300, "bench: measured sequential writes per run")
	fs.IntVar(&b.Warmup, "bench-warmup", 30, "bench: writes before the measured ones")
	fs.Float64Var(&b.MaxLoad, "bench-max-load", 0, "bench: first wait until the 1-minute load average is below this (0: do not wait)")
	fs.DurationVar(&b.LoadWait, "bench-load-wait", 10*time.Minute, "bench: wait at most this long for --bench-max-load")
	fs.StringVar(&c.benchOut, "bench-out", "docs", "bench: directory, under --dir, for performance.md and etcd-topologies.svg (empty: write nothing)")
	fs.DurationVar(&b.BootTimeout, "bench-boot-timeout", 120*time.Second, "bench: how long a cluster may take to boot")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "rehearse: unexpected arguments %q\n", fs.Args())
		return nil, 2
	}
	o.Overrides.Central, o.Overrides.Workers = central.v, workers.v
	o.Log = func(s string) { fmt.Fprintln(os.Stderr, "rehearse:", s) }
	if !*bench {
		return c, 0
	}
	b.Dir, b.Stack, b.Log = o.Dir, o.Stack, o.Log
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			fmt.Fprintf(os.Stderr, "rehearse: --bench-sizes %q: %q is not a whole number; want node counts such as 5,9,15\n", *sizes, f)
			return nil, 2
		}
		b.Sizes = append(b.Sizes, n)
	}
	c.bench = &b
	return c, 0
}

// rehearse runs the rehearsal and prints its report; it returns the exit
// status.
func rehearse(ctx context.Context, o rehearsal.Options, asJSON, verbose bool) int {
	rep, err := rehearsal.Run(ctx, o)
	if errors.As(err, new(plan.ConfigError)) {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if rep != nil {
		var werr error
		if asJSON {
			werr = rep.WriteJSON(os.Stdout)
		} else {
			werr = rep.WriteTable(os.Stdout, verbose)
		}
		err = errors.Join(err, werr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rehearse:", err)
		return 1
	}
	if !rep.OK() {
		return 1
	}
	return 0
}

// runBench runs the benchmark, prints its table (or JSON) and writes the
// docs page and plot into out under the project directory.
func runBench(ctx context.Context, o topobench.Options, asJSON bool, out string) int {
	rep, err := topobench.Run(ctx, o)
	if errors.As(err, new(plan.ConfigError)) {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rehearse:", err)
		return 1
	}
	command := "go run ./cmd/rehearse " + strings.Join(os.Args[1:], " ")
	if asJSON {
		e := json.NewEncoder(os.Stdout)
		e.SetIndent("", "  ")
		err = e.Encode(rep)
	} else {
		err = rep.WriteMarkdown(os.Stdout, command)
	}
	if err == nil && out != "" {
		dir := out
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(o.Dir, out)
		}
		if err = rep.WriteDocs(dir, command); err == nil {
			fmt.Fprintf(os.Stderr, "rehearse: wrote %s and %s\n", filepath.Join(dir, topobench.Page), filepath.Join(dir, topobench.Plot))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rehearse:", err)
		return 1
	}
	return 0
}
