// Package fwtools puts on this machine the firewall tools the nodes run, so
// that the rehearsal loads a node's rendered firewall with the tool its OS
// would: nft for Flatcar, iptables in its legacy mode for Container Linux. A
// tool on PATH is used as it is. Otherwise it comes from the Debian package
// apt knows, fetched without root (apt-get download, dpkg-deb -x) into the
// user cache with the libraries this machine lacks, once.
package fwtools

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Tool is one firewall tool and what it needs to run.
type Tool struct {
	// Name is how nodes and Debian call it: nft, iptables-legacy,
	// ip6tables-legacy.
	Name string
	Path string
	// Env is what it needs besides the caller's environment: where its
	// libraries and iptables' extensions are, for a fetched tool.
	Env []string
}

// Command is t run with args.
func (t Tool) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, t.Path, args...)
	cmd.Env = append(os.Environ(), t.Env...)
	return cmd
}

// packages is the Debian package of each tool.
var packages = map[string]string{
	"nft":              "nftables",
	"iptables-legacy":  "iptables",
	"ip6tables-legacy": "iptables",
}

// Get returns the tool called name, fetching its Debian package on first
// use; log hears when a fetch starts.
func Get(ctx context.Context, name string, log func(string)) (Tool, error) {
	pkg, ok := packages[name]
	if !ok {
		return Tool{}, fmt.Errorf("fwtools: no tool %q; known: nft, iptables-legacy, ip6tables-legacy", name)
	}
	t := Tool{Name: name}
	if path := installed(name); path != "" {
		t.Path = path
	} else {
		root, err := fetch(ctx, pkg, log)
		if err != nil {
			return Tool{}, err
		}
		t.Path = filepath.Join(root, "usr", "sbin", name)
		libs, _ := filepath.Glob(filepath.Join(root, "usr", "lib", "*-linux-gnu*"))
		more, _ := filepath.Glob(filepath.Join(root, "lib", "*-linux-gnu*"))
		libs = append(libs, more...)
		if len(libs) > 0 {
			t.Env = append(t.Env, "LD_LIBRARY_PATH="+strings.Join(libs, ":"))
		}
		for _, l := range libs {
			if fi, err := os.Stat(filepath.Join(l, "xtables")); err == nil && fi.IsDir() {
				t.Env = append(t.Env, "XTABLES_LIBDIR="+filepath.Join(l, "xtables"))
			}
		}
	}
	if out, err := t.Command(ctx, "--version").CombinedOutput(); err != nil {
		return Tool{}, fmt.Errorf("fwtools: %s --version: %v: %s", t.Path, err, out)
	}
	return t, nil
}

// installed is where this machine has the tool, or "": on PATH, or in the
// sbin directories an ordinary user's PATH leaves out.
func installed(name string) string {
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() || err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return filepath.Join(dir, name)
		}
	}
	return ""
}

// fetch extracts pkg, with the packages it needs that this machine has not
// installed, into the user cache, once, and returns the root they are
// extracted to.
func fetch(ctx context.Context, pkg string, log func(string)) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("fwtools: a cache for %s: %w", pkg, err)
	}
	dir := filepath.Join(cache, "isolated-etcd", "debian-"+pkg)
	root := filepath.Join(dir, "root")
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		return root, nil
	}
	for _, tool := range []string{"apt-cache", "apt-get", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("fwtools: the tools of Debian's %s are not on PATH, and %s is not here to fetch them: install %s", pkg, tool, pkg)
		}
	}
	names, err := needed(ctx, pkg)
	if err != nil {
		return "", err
	}
	log(fmt.Sprintf("fetching Debian's %s into %s (apt-get download: %s)", pkg, dir, strings.Join(names, " ")))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// A fetch of its own, renamed into place when complete, so that
	// concurrent fetches (test packages run in parallel) and interrupted
	// ones never meet.
	tmp, err := os.MkdirTemp(dir, "fetch-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	dl := exec.CommandContext(ctx, "apt-get", append([]string{"download"}, names...)...)
	dl.Dir = tmp
	if out, err := dl.CombinedOutput(); err != nil {
		return "", fmt.Errorf("fwtools: apt-get download %s: %v: %s (apt's package lists may be empty: apt-get update)", strings.Join(names, " "), err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != len(names) {
		return "", fmt.Errorf("fwtools: apt-get download gave %d packages for %d: %v", len(debs), len(names), debs)
	}
	for _, deb := range debs {
		if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, filepath.Join(tmp, "root")).CombinedOutput(); err != nil {
			return "", fmt.Errorf("fwtools: dpkg-deb -x %s: %v: %s", filepath.Base(deb), err, out)
		}
	}
	if err := os.Rename(filepath.Join(tmp, "root"), root); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "complete")); serr == nil {
			return root, nil // another fetch finished first
		}
		return "", fmt.Errorf("fwtools: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "complete"), []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		return "", err
	}
	return root, nil
}

// needed is pkg and every package it depends on, however deeply, that this
// machine has not installed: its libraries are found where they are.
func needed(ctx context.Context, pkg string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", "--recurse", "--important", "--no-recommends", "--no-suggests",
		"--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", pkg).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			out = ee.Stderr
		}
		return nil, fmt.Errorf("fwtools: apt-cache depends %s: %v: %s (apt's package lists may be empty: apt-get update)", pkg, err, out)
	}
	names := []string{pkg}
	for line := range strings.Lines(string(out)) {
		name := strings.TrimSpace(line)
		// Dependencies are indented; virtual packages are <name>.
		if strings.HasPrefix(line, " ") || name == "" || strings.HasPrefix(name, "<") || slices.Contains(names, name) {
			continue
		}
		status, _ := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${db:Status-Status}", name).Output()
		if string(status) != "installed" {
			names = append(names, name)
		}
	}
	return names, nil
}
