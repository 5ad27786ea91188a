// Package nodescript runs a node's own scripts for real on this machine, its docker included.
package nodescript

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/gobuild"
)

// Tools are the binaries the pinned images carry, built on this machine.
type Tools struct {
	// Etcdctl and Etcdutl are by etcd release (v3.6.16, ...).
	Etcdctl, Etcdutl map[string]string
	// Rclone is the rclone of cloudconfig.RcloneImage.
	Rclone string
	// Age is the age CLI a node builds at first use (cloudconfig.Age).
	Age string
}

// etcdTool is the build of etcdctl or etcdutl of an etcd release. The
// modules' replace directives bind only their own builds, so requiring the
// module from a build module of ours resolves its siblings at the same
// release.
func etcdTool(tool, release string) gobuild.Command {
	mod := "go.etcd.io/etcd/" + tool + "/v3"
	c := gobuild.Command{Name: tool, Module: mod, Version: release, Package: mod, About: time.Minute}
	if strings.HasPrefix(release, "v3.5.") {
		// 3.5's graph holds cloud.google.com/go v0.46.3, which still has
		// compute/metadata, beside that package's own module: tidy fails
		// on the ambiguous import unless the old module moves past it.
		c.Require = []string{"cloud.google.com/go v0.100.2"}
	}
	return c
}

// rcloneVersion is the rclone release cloudconfig.RcloneImage carries.
func rcloneVersion() (string, error) {
	tag, ok := strings.CutPrefix(cloudconfig.RcloneImage, "rclone/rclone:")
	if !ok || tag == "" {
		return "", fmt.Errorf("nodescript: rclone image %q is not rclone/rclone:<release>", cloudconfig.RcloneImage)
	}
	return "v" + tag, nil
}

// rcloneMain is rclone's own main with only the backends and commands the
// nodes' scripts, s3lab and the shim's tests run: the same code as the image's for those, in
// a fraction of the build (its other backends bring most of the rest). A
// script that runs anything else fails on rclone's "unknown command" or
// "didn't find backend", never silently.
const rcloneMain = `// Command rclone is rclone's main, built by the rehearsal with the backends
// and commands the nodes' scripts use.
package main

import (
	_ "github.com/rclone/rclone/backend/local"
	_ "github.com/rclone/rclone/backend/s3"
	"github.com/rclone/rclone/cmd"
	_ "github.com/rclone/rclone/cmd/config"
	_ "github.com/rclone/rclone/cmd/copyto"
	_ "github.com/rclone/rclone/cmd/lsjson"
	_ "github.com/rclone/rclone/cmd/rcat"
	_ "github.com/rclone/rclone/cmd/serve/s3"
	_ "github.com/rclone/rclone/cmd/touch"
)

func main() { cmd.Main() }
`

// rclone is the build of the rclone of cloudconfig.RcloneImage.
func rclone() (gobuild.Command, error) {
	v, err := rcloneVersion()
	if err != nil {
		return gobuild.Command{}, err
	}
	return gobuild.Command{
		// Not "rclone": a cache holding the whole rclone, built before,
		// would hide a script's use of what this one leaves out.
		Name: "rclone-s3", Module: "github.com/rclone/rclone", Version: v, Main: rcloneMain,
		// Without it the binary calls itself v1.73.0-DEV.
		LDFlags: "-X github.com/rclone/rclone/fs.Version=" + v,
		About:   2 * time.Minute,
	}, nil
}

// Rclone builds the rclone of cloudconfig.RcloneImage (minutes, once).
func Rclone(ctx context.Context, log func(string)) (string, error) {
	c, err := rclone()
	if err != nil {
		return "", err
	}
	return gobuild.Build(ctx, c, log)
}

// age is the build of the age CLI a node's `go install` makes: the same
// module, version and package.
func age() gobuild.Command {
	a := cloudconfig.Age
	return gobuild.Command{Name: "age", Module: strings.TrimSuffix(a.Package, "/cmd/age"), Version: a.Version, Package: a.Package, About: 30 * time.Second}
}

// Commands are the builds of the tools of releases, for a caller to start
// ahead (gobuild.Ahead): rclone first, the longest and sharing nothing with
// etcd, so that etcdctl and etcdutl come after the etcd build the caller
// runs meanwhile, and reuse most of its compiled packages.
func Commands(releases []string) ([]gobuild.Command, error) {
	rc, err := rclone()
	if err != nil {
		return nil, err
	}
	cmds := []gobuild.Command{rc, age()}
	for _, r := range releases {
		cmds = append(cmds, etcdTool("etcdctl", r), etcdTool("etcdutl", r))
	}
	return cmds, nil
}

// Build builds, once each, etcdctl and etcdutl of every release, rclone
// and age.
func Build(ctx context.Context, releases []string, log func(string)) (Tools, error) {
	cmds, err := Commands(releases)
	if err != nil {
		return Tools{}, err
	}
	t := Tools{Etcdctl: map[string]string{}, Etcdutl: map[string]string{}}
	for _, c := range cmds {
		bin, err := gobuild.Build(ctx, c, log)
		if err != nil {
			return Tools{}, err
		}
		switch c.Name {
		case "etcdctl":
			t.Etcdctl[c.Version] = bin
		case "etcdutl":
			t.Etcdutl[c.Version] = bin
		case "age":
			t.Age = bin
		default:
			t.Rclone = bin
		}
	}
	return t, nil
}
