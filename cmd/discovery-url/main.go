// Command discovery-url mints an etcd discovery token for the central members
// and prints only its URL, so it can go straight into stack config:
//
//	pulumi config set --secret discoveryUrl "$(go run ./cmd/discovery-url --size 3)"
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/isolatedetcd/cluster/components/discovery"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit status: 0 minted, 1 the service failed, 2 usage error.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("discovery-url", flag.ContinueOnError)
	fs.SetOutput(stderr)
	size := fs.Int("size", 0, "members the token is for: the stack's centralCount (required)")
	service := fs.String("service", discovery.PublicService, "discovery service to mint from, such as a self-hosted etcd-discovery server")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the discovery service")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(msg string) int {
		fmt.Fprintln(stderr, "discovery-url:", msg)
		fs.Usage()
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return usage(fmt.Sprintf("unexpected arguments %q; flags only", fs.Args()))
	case *size < 1:
		return usage("--size is required and must be at least 1: the stack's centralCount, e.g. --size 3")
	case *timeout <= 0:
		return usage("--timeout must be positive, e.g. --timeout 10s")
	}
	if *size%2 == 0 {
		fmt.Fprintf(stderr, "discovery-url: warning: --size %d is even; etcd needs a majority of voters, so %d members "+
			"tolerate no more failures than %d (%d); minting anyway\n", *size, *size, *size-1, (*size-1)/2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	minted, err := discovery.New(ctx, http.DefaultClient, *service, *size)
	if err != nil {
		fmt.Fprintln(stderr, "discovery-url:", err)
		return 1
	}
	fmt.Fprintln(stdout, minted)
	return 0
}
