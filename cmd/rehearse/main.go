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

	"github.com/isolatedetcd/cluster/internal/rehearsal"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("rehearse", flag.ContinueOnError)
	var (
		o       rehearsal.Options
		central = fs.Int("central", -1, "centralCount, instead of the stack's")
		workers = fs.Int("workers", -1, "workerCount, instead of the stack's")
		asJSON  = fs.Bool("json", false, "print the report as JSON")
		boot    = fs.Duration("boot-timeout", 60*time.Second, "how long a cluster may take to boot")

		bench     = fs.Bool("bench", false, "measure etcd everywhere against isolated etcd instead of rehearsing")
		sizes     = fs.String("bench-sizes", "5,9,15", "bench: node counts N, comma-separated, each more than 3")
		runs      = fs.Int("bench-runs", 2, "bench: runs per N and topology")
		writes    = fs.Int("bench-writes", 300, "bench: measured sequential writes per run")
		warmup    = fs.Int("bench-warmup", 30, "bench: writes before the measured ones")
		maxLoad   = fs.Float64("bench-max-load", 0, "bench: first wait until the 1-minute load average is below this (0: do not wait)")
		loadWait  = fs.Duration("bench-load-wait", 10*time.Minute, "bench: wait at most this long for --bench-max-load")
		benchOut  = fs.String("bench-out", "docs", "bench: directory, under --dir, for performance.md and etcd-topologies.svg (empty: write nothing)")
		benchBoot = fs.Duration("bench-boot-timeout", 120*time.Second, "bench: how long a cluster may take to boot")
	)
	fs.StringVar(&o.Stack, "stack", "dev", "the stack whose Pulumi.<stack>.yaml to rehearse")
	fs.StringVar(&o.Dir, "dir", ".", "the project directory (Pulumi.yaml)")
	fs.StringVar(&o.Overrides.Flavor, "flavor", "", "flavor, instead of the stack's: flatcar or coreos-etcd2")
	fs.StringVar(&o.Overrides.WorkerProxy, "worker-proxy", "", "workerProxy, instead of the stack's: gateway or v2-proxy")
	fs.StringVar(&o.Overrides.Image, "image", "", "image, instead of the stack's (coreos-etcd2 requires one)")
	fs.BoolVar(&o.Drills, "drills", true, "run the fault drills (lines 3)")
	fs.BoolVar(&o.Demos, "demos", true, "run the pre-flight demos (lines 4)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "rehearse: unexpected arguments %q\n", fs.Args())
		return 2
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "central":
			o.Overrides.Central = central
		case "workers":
			o.Overrides.Workers = workers
		}
	})
	o.BootTimeout = *boot
	o.Log = func(s string) { fmt.Fprintln(os.Stderr, "rehearse:", s) }

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *bench {
		bo := rehearsal.BenchOptions{Dir: o.Dir, Stack: o.Stack, Runs: *runs, Writes: *writes, Warmup: *warmup,
			MaxLoad: *maxLoad, LoadWait: *loadWait, BootTimeout: *benchBoot, Log: o.Log}
		for _, f := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				fmt.Fprintf(os.Stderr, "rehearse: --bench-sizes %q: %q is not a whole number; want node counts such as 5,9,15\n", *sizes, f)
				return 2
			}
			bo.Sizes = append(bo.Sizes, n)
		}
		return runBench(ctx, bo, *asJSON, *benchOut)
	}
	rep, err := rehearsal.Run(ctx, o)
	if errors.As(err, new(rehearsal.ConfigError)) {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if rep != nil {
		write := rep.WriteTable
		if *asJSON {
			write = rep.WriteJSON
		}
		if werr := write(os.Stdout); werr != nil && err == nil {
			err = werr
		}
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
func runBench(ctx context.Context, o rehearsal.BenchOptions, asJSON bool, out string) int {
	rep, err := rehearsal.Bench(ctx, o)
	if errors.As(err, new(rehearsal.ConfigError)) {
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
			fmt.Fprintf(os.Stderr, "rehearse: wrote %s and %s\n", filepath.Join(dir, rehearsal.BenchPage), filepath.Join(dir, rehearsal.BenchPlot))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rehearse:", err)
		return 1
	}
	return 0
}
