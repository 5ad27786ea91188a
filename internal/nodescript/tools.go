// Package nodescript runs a node's own scripts for real on this machine, its docker included.
package nodescript

import (
	"context"
	"fmt"
	"strings"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/gobuild"
)

// Tools are the binaries the pinned images carry, built on this machine.
type Tools struct {
	// Etcdctl and Etcdutl are by etcd release (v3.6.16, ...).
	Etcdctl, Etcdutl map[string]string
	// Rclone is the rclone of cloudconfig.RcloneImage.
	Rclone string
}

// etcdTool builds etcdctl or etcdutl of an etcd release. The modules'
// replace directives bind only their own builds, so requiring the module
// from a build module of ours resolves its siblings at the same release.
func etcdTool(ctx context.Context, tool, release string, log func(string)) (string, error) {
	if tool != "etcdctl" && tool != "etcdutl" {
		return "", fmt.Errorf("nodescript: no etcd tool %q", tool)
	}
	mod := "go.etcd.io/etcd/" + tool + "/v3"
	c := gobuild.Command{Name: tool, Module: mod, Version: release, Package: mod}
	if strings.HasPrefix(release, "v3.5.") {
		// 3.5's graph holds cloud.google.com/go v0.46.3, which still has
		// compute/metadata, beside that package's own module: tidy fails
		// on the ambiguous import unless the old module moves past it.
		c.Require = []string{"cloud.google.com/go v0.100.2"}
	}
	return gobuild.Build(ctx, c, log)
}

// rcloneVersion is the rclone release cloudconfig.RcloneImage carries.
func rcloneVersion() (string, error) {
	tag, ok := strings.CutPrefix(cloudconfig.RcloneImage, "rclone/rclone:")
	if !ok || tag == "" {
		return "", fmt.Errorf("nodescript: rclone image %q is not rclone/rclone:<release>", cloudconfig.RcloneImage)
	}
	return "v" + tag, nil
}

// Rclone builds the rclone of cloudconfig.RcloneImage (minutes, once).
func Rclone(ctx context.Context, log func(string)) (string, error) {
	v, err := rcloneVersion()
	if err != nil {
		return "", err
	}
	return gobuild.Build(ctx, gobuild.Command{
		Name: "rclone", Module: "github.com/rclone/rclone", Version: v, Package: "github.com/rclone/rclone",
		// Without it the binary calls itself v1.73.0-DEV.
		LDFlags: "-X github.com/rclone/rclone/fs.Version=" + v,
	}, log)
}

// Build builds, once each, etcdctl and etcdutl of every release and rclone.
func Build(ctx context.Context, releases []string, log func(string)) (Tools, error) {
	t := Tools{Etcdctl: map[string]string{}, Etcdutl: map[string]string{}}
	for _, r := range releases {
		for tool, bins := range map[string]map[string]string{"etcdctl": t.Etcdctl, "etcdutl": t.Etcdutl} {
			bin, err := etcdTool(ctx, tool, r, log)
			if err != nil {
				return Tools{}, err
			}
			bins[r] = bin
		}
	}
	var err error
	if t.Rclone, err = Rclone(ctx, log); err != nil {
		return Tools{}, err
	}
	return t, nil
}
