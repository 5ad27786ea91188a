package rehearsal

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
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

const etcdGoMod = `module isolatedetcd/rehearsal/etcd

go 1.23

require go.etcd.io/etcd/server/v3 ` + EtcdModuleVersion + `
`

// EtcdBinary returns the path of an etcd binary of EtcdModuleVersion, built
// from the Go module proxy into the user cache directory on first use
// (about two minutes on two cores) and reused after that. log receives the
// go tool's output.
func EtcdBinary(ctx context.Context, log func(string)) (string, error) {
	if !strings.HasSuffix(cloudconfig.EtcdImage, ":"+EtcdModuleVersion) {
		return "", fmt.Errorf("nodes run %s but the rehearsal builds etcd %s: update EtcdModuleVersion", cloudconfig.EtcdImage, EtcdModuleVersion)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("etcd build cache: %w", err)
	}
	dir := filepath.Join(cache, "isolated-etcd", "etcd-"+EtcdModuleVersion)
	bin := filepath.Join(dir, "etcd")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return bin, nil
	}
	// Each build has a source directory and a binary name of its own, the
	// binary renamed into place when complete, so concurrent builds (test
	// packages run in parallel) and interrupted ones never meet.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src, err := os.MkdirTemp(dir, "src-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	for name, text := range map[string]string{"main.go": etcdMain, "go.mod": etcdGoMod} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building etcd needs the go tool on PATH: %w", err)
	}
	tmp := filepath.Join(src, "etcd")
	log(fmt.Sprintf("building etcd %s into %s (first run only; a few minutes on a small machine)", EtcdModuleVersion, bin))
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", tmp, "."}} {
		cmd := exec.CommandContext(ctx, goTool, args...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go %s for etcd %s: %w\n%s", strings.Join(args, " "), EtcdModuleVersion, err, out)
		}
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}
