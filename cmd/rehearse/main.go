// Command rehearse boots a stack's cluster locally, as real etcd processes on
// loopback addresses fed the exact user data the program attaches, and proves
// the isolated topology before any cloud is paid for.
//
//	go run ./cmd/rehearse                 # stack dev, every proof
//	go run ./cmd/rehearse --workers 20 --json
//
// Exit status: 0 when every proof holds, 1 when one fails or the rehearsal
// cannot run, 2 for settings the program rejects.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
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
