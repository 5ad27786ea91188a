package localetcd

import (
	"context"
	"slices"

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

// Binary returns the path of an etcd binary of release (v3.6.16, ...), built
// from the Go module proxy into the user cache directory on first use and
// reused after that. log hears when a build starts.
func Binary(ctx context.Context, release string, log func(string)) (string, error) {
	return gobuild.Build(ctx, gobuild.Command{
		Name:    "etcd",
		Module:  "go.etcd.io/etcd/server/v3",
		Version: release,
		Main:    etcdMain,
	}, log)
}

// Binaries builds, once each, the etcd of every release in releases and of
// V2Release, and returns their paths by release.
func Binaries(ctx context.Context, releases []string, log func(string)) (map[string]string, error) {
	bins := map[string]string{}
	for _, r := range append(slices.Clone(releases), V2Release) {
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
