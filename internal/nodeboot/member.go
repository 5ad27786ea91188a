package nodeboot

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/coreos/coreos-cloudinit/config"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/components/discovery"
)

// etcdImageEntrypoint is where the etcd image keeps its binary.
const etcdImageEntrypoint = "/usr/local/bin/etcd"

// releaseOf is the etcd release of an image the program pins; the
// rehearsal runs only those.
func releaseOf(image string) (string, error) {
	release, ok := strings.CutPrefix(image, cloudconfig.EtcdImageRepo+":")
	if _, pinned := cloudconfig.EtcdVersionOf(release); !ok || !pinned {
		return "", fmt.Errorf("image %q is not one the program pins, so the rehearsal has no etcd for it", image)
	}
	return release, nil
}

// flatcar reads the etcd-member.service drop-in's Environment= lines, or a
// unit that runs the etcd image with docker; files are what write_files put
// on the node for etcd to read.
func flatcar(cc *config.CloudConfig, p *Process, env map[string]string, central map[string]string, files map[string]File) error {
	for _, u := range cc.CoreOS.Units {
		if u.Command != "start" || u.Mask {
			return fmt.Errorf("unit %s: command %q, mask %v: the rehearsal interprets only started units", u.Name, u.Command, u.Mask)
		}
		if p.Unit != "" {
			return fmt.Errorf("unit %s: a second etcd unit besides %s", u.Name, p.Unit)
		}
		switch {
		case u.Name == "etcd-member.service" && u.Content == "":
			p.Unit = u.Name
			for _, d := range u.DropIns {
				if err := dropIn(u.Name, d, env, &p.EnvFile); err != nil {
					return err
				}
			}
			release, err := releaseOf(env["ETCD_IMAGE"])
			if err != nil {
				return fmt.Errorf("unit %s: ETCD_IMAGE: %w", u.Name, err)
			}
			p.Release = release
			if err := memberFiles(u.Name, p, env, files); err != nil {
				return err
			}
		case u.Content != "" && len(u.DropIns) == 0:
			p.Unit = u.Name
			run, err := dockerUnit(u.Name, u.Content)
			if err != nil {
				return err
			}
			p.Release, p.StopGrace = run.release, run.stopGrace
			c := container{name: u.Name, mounts: run.mounts, user: "root", files: files, p: p}
			p.Kind = Gateway
			if len(run.args) > 0 && run.args[0] == string(GRPCProxy) {
				p.Kind = GRPCProxy
			}
			if p.Args, err = proxyArgs(u.Name, p.Kind, run.args, p.Addr, central, c); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unit %s: the rehearsal cannot interpret it", u.Name)
		}
	}
	// The workers' credentials are for the node's own clients.
	if f, ok := files[cloudconfig.AuthCredentials]; ok && p.Kind == GRPCProxy {
		p.Files = append(p.Files, f)
	}
	for path := range files {
		if !slices.ContainsFunc(p.Files, func(f File) bool { return f.Path == path }) {
			return fmt.Errorf("write_files %s: no process reads it", path)
		}
	}
	return nil
}

// wrapperSSLDefault is where Flatcar's etcd wrapper takes ETCD_SSL_DIR from
// when it is unset.
const wrapperSSLDefault = "/etc/ssl/certs"

// memberFiles interprets what Flatcar's etcd wrapper consumes (ETCD_IMAGE,
// ETCD_SSL_DIR) and mounts: the data directory, /run,
// /usr/share/ca-certificates and ETCD_SSL_DIR at /etc/ssl/certs, read-only.
// Every file etcd is told to read must be inside one of them, written by
// write_files, and readable by the etcd user the wrapper runs it as.
func memberFiles(unit string, p *Process, env map[string]string, files map[string]File) error {
	ssl := env["ETCD_SSL_DIR"]
	if ssl == "" {
		ssl = wrapperSSLDefault
	}
	delete(env, "ETCD_IMAGE")
	delete(env, "ETCD_SSL_DIR")
	c := container{name: unit, user: "etcd", files: files, p: p, mounts: []mount{
		{host: ssl, container: cloudconfig.WrapperSSLDir},
		{host: "/run", container: "/run"},
		{host: "/usr/share/ca-certificates", container: "/usr/share/ca-certificates"},
	}}
	for k, v := range env {
		if !strings.HasSuffix(k, "_FILE") {
			continue
		}
		local, err := c.file(v)
		if err != nil {
			return fmt.Errorf("unit %s: %s: %w", unit, k, err)
		}
		env[k] = local
	}
	return nil
}

// tlsFiles are the write_files left once the data volume's script is
// taken: each must be in the program's TLS directory, and is read only
// through a process's settings.
func tlsFiles(wf []config.File) (map[string]File, error) {
	out := map[string]File{}
	for _, f := range wf {
		if !strings.HasPrefix(f.Path, cloudconfig.TLSDir+"/") {
			return nil, fmt.Errorf("write_files %s: the rehearsal interprets only the data volume's script and files in %s", f.Path, cloudconfig.TLSDir)
		}
		if f.Encoding != "" {
			return nil, fmt.Errorf("write_files %s: encoding %q is not interpreted", f.Path, f.Encoding)
		}
		mode, err := strconv.ParseUint(f.RawFilePermissions, 8, 32)
		if err != nil {
			return nil, fmt.Errorf("write_files %s: permissions %q: %w", f.Path, f.RawFilePermissions, err)
		}
		out[f.Path] = File{Path: f.Path, Mode: os.FileMode(mode), Owner: f.Owner, Content: f.Content}
	}
	return out, nil
}

// urlKeys are the etcd settings that hold this node's own URLs.
var urlKeys = []string{"ETCD_LISTEN_CLIENT_URLS", "ETCD_LISTEN_PEER_URLS", "ETCD_ADVERTISE_CLIENT_URLS", "ETCD_INITIAL_ADVERTISE_PEER_URLS", "ETCD_LISTEN_METRICS_URLS"}

// localizeEnv moves the node's own URLs to its loopback address (127.0.0.1
// on a node is the node itself), drops duplicates this makes, and refuses any
// value that would make etcd listen on, or reach, an address off loopback.
func localizeEnv(env map[string]string, addr, host string, central map[string]string) error {
	for k, v := range env {
		if strings.Contains(v, "$") {
			return fmt.Errorf("%s=%s: unsubstituted variable", k, v)
		}
	}
	// A node's own URLs may name it by its address, its loopback, or the
	// host its peers know it by (a fixed address, a DNS name).
	own := func(h string) bool { return h == addr || h == "127.0.0.1" || central[h] == addr || h == host }
	// The host the node is dialled at goes where the rehearsal reaches it:
	// its own address, or in a lab its name.
	local := func(h string) (string, bool) {
		if h == host && central[h] != "" {
			return central[h], true
		}
		return addr, own(h)
	}
	for _, k := range urlKeys {
		v, ok := env[k]
		if !ok {
			continue
		}
		var urls []string
		for _, raw := range strings.Split(v, ",") {
			h, err := localURL(raw, local)
			if err != nil {
				return fmt.Errorf("%s: %q: %w", k, raw, err)
			}
			if !slices.Contains(urls, h) {
				urls = append(urls, h)
			}
		}
		env[k] = strings.Join(urls, ",")
	}
	if v, ok := env["ETCD_INITIAL_CLUSTER"]; ok {
		var members []string
		for _, m := range strings.Split(v, ",") {
			name, raw, ok := strings.Cut(m, "=")
			if !ok {
				return fmt.Errorf("ETCD_INITIAL_CLUSTER: %q is not name=URL", m)
			}
			u, err := localURL(raw, func(h string) (string, bool) { a, ok := central[h]; return a, ok })
			if err != nil {
				return fmt.Errorf("ETCD_INITIAL_CLUSTER: member %s: %w", name, err)
			}
			members = append(members, name+"="+u)
		}
		env["ETCD_INITIAL_CLUSTER"] = strings.Join(members, ",")
	}
	if d, ok := env["ETCD_DISCOVERY"]; ok {
		u, err := discovery.ParseURL(d)
		if err != nil || !u.Loopback() {
			return fmt.Errorf("ETCD_DISCOVERY=%s: not a local discovery URL; the rehearsal contacts nothing off loopback", d)
		}
	}
	for _, k := range []string{"ETCD_DISCOVERY_SRV", "ETCD_DISCOVERY_PROXY", "ETCD_DATA_DIR", "ETCD_WAL_DIR"} {
		if _, ok := env[k]; ok {
			return fmt.Errorf("%s: the rehearsal cannot interpret it", k)
		}
	}
	return nil
}

// localURL moves an http or https URL to the local address local gives for
// its host, or fails when local knows none.
func localURL(raw string, local func(host string) (string, bool)) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Path != "" && u.Path != "/" {
		return "", fmt.Errorf("not an http or https URL the rehearsal can serve")
	}
	a, ok := local(u.Hostname())
	if !ok {
		return "", fmt.Errorf("host %s is not this node", u.Hostname())
	}
	if _, err := strconv.Atoi(u.Port()); err != nil {
		return "", fmt.Errorf("port %q", u.Port())
	}
	return u.Scheme + "://" + net.JoinHostPort(a, u.Port()), nil
}
