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
// or the rehearsal cannot run, 2 for settings the program rejects. A line
// not run (a skipped one, which says why) fails nothing.
//
// Not run as root, it runs itself again in a user namespace of its own
// (internal/netlab.Reexec), where it makes the network namespaces and mount
// namespaces of the TLS lab and the backup drills as root would; where the
// kernel refuses one it says so, with the setting that allows it, and runs
// every line that needs none. The flags
// are internal/rehearsecli's, which the tests that run the README's commands
// parse with too.
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
	"strings"
	"syscall"

	"github.com/isolatedetcd/cluster/internal/netlab"
	"github.com/isolatedetcd/cluster/internal/plan"
	"github.com/isolatedetcd/cluster/internal/rehearsal"
	"github.com/isolatedetcd/cluster/internal/rehearsecli"
	"github.com/isolatedetcd/cluster/internal/topobench"
)

func main() {
	c, err := rehearsecli.Parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	} else if err != nil {
		os.Exit(2)
	}
	// Not root: on in a user namespace of the rehearsal's own, where it
	// makes its network labs and mount namespaces as root would.
	netlab.Reexec()
	log := func(s string) { fmt.Fprintln(os.Stderr, "rehearse:", s) }
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.Bench != nil {
		c.Bench.Log = log
		os.Exit(runBench(ctx, *c.Bench, c.JSON, c.BenchOut))
	}
	c.Rehearsal.Log = log
	os.Exit(rehearse(ctx, c.Rehearsal, c.JSON, c.Verbose))
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
