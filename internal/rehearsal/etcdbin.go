package rehearsal

import (
	"context"
	"fmt"
	"strings"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/gobuild"
)

// EtcdModuleVersion is the etcd the rehearsal builds: the version in
// cloudconfig.EtcdImage, the one every Flatcar node runs.
const EtcdModuleVersion = "v3.5.21"

// etcdImageEntrypoint is where the etcd image keeps its binary.
const etcdImageEntrypoint = "/usr/local/bin/etcd"

const etcdMain = `// Command etcd is etcd built from go.etcd.io/etcd/server/v3 by the rehearsal.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
`

// EtcdBinary returns the path of an etcd binary of EtcdModuleVersion, built
// from the Go module proxy into the user cache directory on first use and
// reused after that. log hears when a build starts.
func EtcdBinary(ctx context.Context, log func(string)) (string, error) {
	if !strings.HasSuffix(cloudconfig.EtcdImage, ":"+EtcdModuleVersion) {
		return "", fmt.Errorf("nodes run %s but the rehearsal builds etcd %s: update EtcdModuleVersion", cloudconfig.EtcdImage, EtcdModuleVersion)
	}
	return gobuild.Build(ctx, gobuild.Command{
		Name:    "etcd",
		Module:  "go.etcd.io/etcd/server/v3",
		Version: EtcdModuleVersion,
		Main:    etcdMain,
	}, log)
}
