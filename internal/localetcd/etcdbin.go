package localetcd

import (
	"context"
	"time"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/gobuild"
)

// V2Release is the etcd the local discovery endpoint and etcd2 nodes run:
// the pinned line that still serves the v2 API.
var V2Release = cloudconfig.Etcd35.Release()

const etcdMain = `// Command etcd is etcd built from go.etcd.io/etcd/server/v3 by the rehearsal.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
`

// Command is the build of etcd of release (v3.6.16, ...) from the Go module
// proxy.
func Command(release string) gobuild.Command {
	return gobuild.Command{
		Name:    "etcd",
		Module:  "go.etcd.io/etcd/server/v3",
		Version: release,
		Main:    etcdMain,
		About:   2 * time.Minute,
	}
}

// Binary returns the path of an etcd binary of release, built into the user
// cache directory on first use and reused after that. log hears when a build
// starts and how it goes.
func Binary(ctx context.Context, release string, log func(string)) (string, error) {
	return gobuild.Build(ctx, Command(release), log)
}

// Binaries builds, once each, the etcd of every release in releases and
// returns their paths by release.
func Binaries(ctx context.Context, releases []string, log func(string)) (map[string]string, error) {
	bins := map[string]string{}
	for _, r := range releases {
		if _, done := bins[r]; done {
			continue
		}
		bin, err := Binary(ctx, r, log)
		if err != nil {
			return nil, err
		}
		bins[r] = bin
	}
	return bins, nil
}
