package localetcd

import (
	"context"
	"fmt"
	"strings"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/gobuild"
)

// Version is the etcd the rehearsal builds: the version in
// cloudconfig.EtcdImage, the one every Flatcar node runs.
const Version = "v3.5.21"

const etcdMain = `// Command etcd is etcd built from go.etcd.io/etcd/server/v3 by the rehearsal.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
`

// Binary returns the path of an etcd binary of Version, built
// from the Go module proxy into the user cache directory on first use and
// reused after that. log hears when a build starts.
func Binary(ctx context.Context, log func(string)) (string, error) {
	if !strings.HasSuffix(cloudconfig.EtcdImage, ":"+Version) {
		return "", fmt.Errorf("nodes run %s but the rehearsal builds etcd %s: update EtcdModuleVersion", cloudconfig.EtcdImage, Version)
	}
	return gobuild.Build(ctx, gobuild.Command{
		Name:    "etcd",
		Module:  "go.etcd.io/etcd/server/v3",
		Version: Version,
		Main:    etcdMain,
	}, log)
}
