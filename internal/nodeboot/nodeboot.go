// Package nodeboot does what a node's OS does with its user data: it reads
// the cloud-config as coreos-cloudinit would, or the Ignition config as
// Ignition would, and returns the etcd process the node would start, with
// its addresses on loopback.
package nodeboot

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/coreos-cloudinit/config"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/components/discovery"
	"github.com/isolatedetcd/cluster/internal/plan"
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

// Kind is what an etcd process on a node is.
type Kind string

const (
	Member  Kind = "member"   // a voting member (etcd-member.service, etcd2.service)
	V2Proxy Kind = "v2-proxy" // etcd with ETCD_PROXY=on
	Gateway Kind = "gateway"  // etcd gateway start
	// GRPCProxy is etcd grpc-proxy start.
	GRPCProxy Kind = "grpc-proxy"
)

// RootDir is where a node's files live, relative to its directory: the
// process runs there, and its settings name files below it.
const RootDir = "root"

// File is one file the node's OS writes from write_files that etcd reads.
type File struct {
	// Path is where the node has it.
	Path    string
	Mode    os.FileMode
	Owner   string
	Content string
}

// Process is how a node's OS would start etcd, with the node's addresses
// already on loopback.
type Process struct {
	Node string
	Role plan.Role
	// Addr is the node's loopback address: its private, public and local
	// address at once.
	Addr string
	Kind Kind
	// Unit is the systemd unit that would run it.
	Unit string
	// Release is the etcd release of the image it runs (v3.6.16, ...); ""
	// for the etcd2 an image ships.
	Release string
	// Args follow the etcd binary; Env is KEY=value, sorted.
	Args []string
	Env  []string
	// Files are what the process reads, and the node's scripts with what
	// they read, to be put under RootDir.
	Files []File
	// Scripts are the node's own oneshot units that run a script from
	// write_files: at boot before etcd, or on a timer.
	Scripts []Script
	// Firewall keeps everyone but root on the node from the cloud's
	// metadata service; etcd's unit and the scripts' start after it.
	Firewall Firewall
}

// Script is a oneshot unit that runs one script the user data writes.
type Script struct {
	Unit string
	// Path is the script's path on the node.
	Path string
	// BeforeEtcd is set when etcd's unit waits for it at boot; AfterEtcd
	// when it is started at boot once etcd's unit has.
	BeforeEtcd, AfterEtcd bool
	// Schedule is the OnCalendar of the timer that starts it, "" without one.
	Schedule string
}

// Getenv returns the value the process gets for key.
func (p Process) Getenv(key string) string {
	for _, kv := range p.Env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

// WithEnv is p with the keys of set replaced or added in its environment.
func (p Process) WithEnv(set map[string]string) Process {
	var env []string
	for _, kv := range p.Env {
		k, _, _ := strings.Cut(kv, "=")
		if _, replaced := set[k]; !replaced {
			env = append(env, kv)
		}
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	p.Env = env
	return p
}

// WithDropIn is p as systemd runs it once a drop-in called name, holding
// content, is added to its unit: the keys it sets take their new values.
func (p Process) WithDropIn(name, content string) (Process, error) {
	set := map[string]string{}
	if err := dropIn(p.Unit, config.UnitDropIn{Name: name, Content: content}, set); err != nil {
		return p, err
	}
	return p.WithEnv(set), nil
}

// Interpret reads node's cloud-config the way its OS would and returns the
// etcd process it would run. addr is the node's loopback address; central maps
// each central node's cloud private IP to its loopback address. Anything the
// rehearsal cannot interpret is an error naming the node and the line.
func Interpret(flavor cloudconfig.Flavor, node plan.Node, addr string, central map[string]string) (Process, error) {
	p, err := interpret(flavor, node, addr, central)
	if err != nil {
		return Process{}, fmt.Errorf("node %s: %w", node.Name, err)
	}
	return p, nil
}

func interpret(flavor cloudconfig.Flavor, node plan.Node, addr string, central map[string]string) (Process, error) {
	cc, err := readUserData(flavor, node.UserData, addr)
	if err != nil {
		return Process{}, err
	}
	allowed := []string{"update", "units"}
	if flavor == cloudconfig.CoreOSEtcd2 {
		allowed = append(allowed, "etcd2", "fleet")
	}
	if err := onlySections("", *cc, "ssh_authorized_keys", "coreos", "write_files"); err != nil {
		return Process{}, err
	}
	if err := onlySections("coreos.", cc.CoreOS, allowed...); err != nil {
		return Process{}, err
	}

	p := Process{Node: node.Name, Role: node.Role, Addr: addr}
	env := map[string]string{}
	units := cc.CoreOS.Units
	if p.Firewall, cc.CoreOS.Units, err = metadataFirewall(cc, flavor); err != nil {
		return Process{}, err
	}
	if cc.CoreOS.Units, p.Scripts, err = scripts(cc); err != nil {
		return Process{}, err
	}
	if cc.CoreOS.Units, err = dataVolume(cc, flavor.DataDir()); err != nil {
		return Process{}, err
	}
	if cc.WriteFiles, err = scriptFiles(cc.WriteFiles, p.Scripts, &p); err != nil {
		return Process{}, err
	}
	files, err := tlsFiles(cc.WriteFiles)
	if err != nil {
		return Process{}, err
	}
	switch flavor {
	case cloudconfig.CoreOSEtcd2:
		for path := range files {
			return Process{}, fmt.Errorf("write_files %s: the rehearsal runs etcd2 without files", path)
		}
		err = etcd2(cc, &p, env)
	case cloudconfig.Flatcar:
		err = flatcar(cc, &p, env, central, files)
	default:
		err = fmt.Errorf("flavor %q: the rehearsal knows flatcar and coreos-etcd2", flavor)
	}
	if err != nil {
		return Process{}, err
	}
	if p.Unit == "" {
		return Process{}, fmt.Errorf("no unit starts etcd")
	}
	waiting := []string{p.Unit}
	for _, sc := range p.Scripts {
		waiting = append(waiting, sc.Unit)
	}
	if err := checkAfterFirewall(units, waiting); err != nil {
		return Process{}, err
	}
	if err := localizeEnv(env, addr, node.Host, central); err != nil {
		return Process{}, err
	}
	switch {
	case p.Kind == Gateway || p.Kind == GRPCProxy:
	case env["ETCD_PROXY"] == "on":
		p.Kind = V2Proxy
	case env["ETCD_PROXY"] == "" || env["ETCD_PROXY"] == "off":
		p.Kind = Member
	default:
		return Process{}, fmt.Errorf("ETCD_PROXY=%s: the rehearsal knows on and off", env["ETCD_PROXY"])
	}
	// etcd's defaults would listen on localhost, which every node shares.
	need := map[Kind][]string{Member: {"ETCD_LISTEN_CLIENT_URLS", "ETCD_LISTEN_PEER_URLS"}, V2Proxy: {"ETCD_LISTEN_CLIENT_URLS"}}
	for _, k := range need[p.Kind] {
		if env[k] == "" {
			return Process{}, fmt.Errorf("%s is not set: etcd would listen on its default, localhost", k)
		}
	}
	for k, v := range env {
		p.Env = append(p.Env, k+"="+v)
	}
	slices.Sort(p.Env)
	return p, nil
}

// substitute replaces the address variables as coreos-cloudinit does before
// parsing: every $private_ipv4 and $public_ipv4 not escaped with a backslash.
func substitute(text, addr string) string {
	for _, v := range []string{"private_ipv4", "public_ipv4"} {
		text = regexp.MustCompile(`([^\\]|^)\$`+v).ReplaceAllString(text, "${1}"+addr)
	}
	return text
}

// onlySections fails on any non-empty field of v (a coreos-cloudinit config
// struct) other than the allowed ones, by YAML name.
func onlySections(prefix string, v any, allowed ...string) error {
	rv, rt := reflect.ValueOf(v), reflect.TypeOf(v)
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("yaml"), ",")
		if f := rv.Field(i); !slices.Contains(allowed, name) && !f.IsZero() && !(f.Kind() == reflect.Slice && f.Len() == 0) {
			return fmt.Errorf("%s%s: the rehearsal cannot interpret this section", prefix, name)
		}
	}
	return nil
}

// etcd2 turns the coreos.etcd2 section into etcd2.service's environment, as
// coreos-cloudinit writes its 20-cloudinit.conf drop-in: one ETCD_* variable
// per non-empty field.
func etcd2(cc *config.CloudConfig, p *Process, env map[string]string) error {
	for _, u := range cc.CoreOS.Units {
		switch {
		case u.Content != "" || u.Mask:
			return fmt.Errorf("unit %s: the rehearsal runs etcd2.service and fleet.service as shipped, without content", u.Name)
		case u.Name == "etcd2.service" && u.Command == "start":
			p.Unit = u.Name
			for _, d := range u.DropIns {
				// Only ordering lines: etcd2's settings come from coreos.etcd2.
				scratch := map[string]string{}
				if err := dropIn(u.Name, d, scratch); err != nil || len(scratch) > 0 {
					return fmt.Errorf("unit %s drop-in %s: the rehearsal interprets only ordering lines here (%v)", u.Name, d.Name, err)
				}
			}
		case len(u.DropIns) > 0:
			return fmt.Errorf("unit %s: the rehearsal cannot interpret its drop-ins", u.Name)
		case u.Name == "fleet.service":
			// fleet schedules containers through etcd; it is not part of the
			// etcd topology the rehearsal proves.
		default:
			return fmt.Errorf("unit %s (command %q): the rehearsal cannot interpret it", u.Name, u.Command)
		}
	}
	e := cc.CoreOS.Etcd2
	rv, rt := reflect.ValueOf(e), reflect.TypeOf(e)
	for i := range rt.NumField() {
		if f := rv.Field(i); !f.IsZero() {
			env[rt.Field(i).Tag.Get("env")] = fmt.Sprint(f.Interface())
		}
	}
	if len(env) == 0 {
		return fmt.Errorf("coreos.etcd2 is empty")
	}
	// etcd2 serves only the v2 API; etcd 3.5 stands in for it, so it must
	// serve v2 as well.
	env["ETCD_ENABLE_V2"] = "true"
	p.Kind = ""
	return nil
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
				if err := dropIn(u.Name, d, env); err != nil {
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
			p.Release = run.release
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

// mount is a host directory a container sees at another path.
type mount struct{ host, container string }

// container is what one unit's container sees of the node.
type container struct {
	name   string
	mounts []mount
	// user runs the process inside.
	user  string
	files map[string]File
	p     *Process
}

// file maps a path inside the container to the node's file, checks the
// container may read it, adds it to the process's files and returns where
// the process finds it in the rehearsal.
func (c container) file(path string) (string, error) {
	host := ""
	for _, m := range c.mounts {
		if rest, ok := strings.CutPrefix(path, m.container); ok && (rest == "" || strings.HasPrefix(rest, "/")) {
			host = m.host + rest
		}
	}
	if host == "" {
		return "", fmt.Errorf("%s is outside every directory the container mounts (%v): the process could not see it", path, c.mounts)
	}
	f, ok := c.files[host]
	if !ok {
		return "", fmt.Errorf("%s (on the node %s): no write_files puts it there", path, host)
	}
	owner, _, _ := strings.Cut(f.Owner, ":")
	if c.user != "root" && owner != c.user && f.Mode&0o004 == 0 {
		return "", fmt.Errorf("%s is mode %04o owned by %s: %s runs as %s and cannot read it", host, f.Mode, f.Owner, c.name, c.user)
	}
	if !slices.ContainsFunc(c.p.Files, func(g File) bool { return g.Path == host }) {
		c.p.Files = append(c.p.Files, f)
	}
	return RootDir + host, nil
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

var (
	envLine      = regexp.MustCompile(`^Environment="([A-Z0-9_]+)=([^"]*)"$`)
	orderingLine = regexp.MustCompile(`^(Requires|After|Wants)=[A-Za-z0-9@._-]+$`)
)

func dropIn(unit string, d config.UnitDropIn, env map[string]string) error {
	section := ""
	for line := range strings.Lines(d.Content) {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case line == "[Unit]" || line == "[Service]":
			section = line
			continue
		case section == "[Unit]" && orderingLine.MatchString(line):
			// Ordering: the rehearsal starts etcd once the node's disk exists.
			continue
		}
		m := envLine.FindStringSubmatch(line)
		if section != "[Service]" || m == nil || !strings.HasPrefix(m[1], "ETCD_") {
			return fmt.Errorf("unit %s drop-in %s: line %q: the rehearsal interprets only [Unit] Requires=/After=/Wants= and [Service] Environment=\"ETCD_...=...\" lines", unit, d.Name, line)
		}
		env[m[1]] = m[2]
	}
	return nil
}

// unitLine is one Key=value line of a unit file.
type unitLine struct{ section, key, value, line string }

// parseUnit reads a unit file, refusing any key not in known (by section)
// and any quoting or variable, which the rehearsal does not interpret.
func parseUnit(unit, content string, known map[string][]string) ([]unitLine, error) {
	section := ""
	var out []unitLine
	for line := range strings.Lines(content) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.Trim(line, "[]")
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || !slices.Contains(known[section], key) {
			return nil, fmt.Errorf("unit %s: line %q: the rehearsal cannot interpret it", unit, line)
		}
		if strings.ContainsAny(value, `"'\$`) {
			return nil, fmt.Errorf("unit %s: line %q: quoting and variables are not interpreted", unit, line)
		}
		out = append(out, unitLine{section, key, value, line})
	}
	return out, nil
}

// scripts takes out the oneshot units that run a single script (no
// argument: the data volume's takes its device) and the timers that start
// them, and returns the other units.
func scripts(cc *config.CloudConfig) ([]config.Unit, []Script, error) {
	var rest []config.Unit
	var out []Script
	schedules := map[string]string{}
	for _, u := range cc.CoreOS.Units {
		switch {
		case strings.HasSuffix(u.Name, ".timer"):
			lines, err := parseUnit(u.Name, u.Content, map[string][]string{
				"Unit": {"Description"}, "Timer": {"OnCalendar", "RandomizedDelaySec", "Persistent"}, "Install": {"WantedBy"}})
			if err != nil {
				return nil, nil, err
			}
			if u.Command != "start" || !u.Enable {
				return nil, nil, fmt.Errorf("unit %s: a timer that is not enabled and started never fires", u.Name)
			}
			for _, l := range lines {
				if l.key == "OnCalendar" {
					schedules[strings.TrimSuffix(u.Name, ".timer")+".service"] = l.value
				}
			}
		case u.Content != "" && (u.Command == "" || u.Command == "start") && len(u.DropIns) == 0 && len(strings.Fields(execStart(u.Content))) == 1:
			lines, err := parseUnit(u.Name, u.Content, map[string][]string{
				"Unit": {"Description", "Before", "After", "Requires"}, "Service": {"Type", "RemainAfterExit", "Restart", "RestartSec", "ExecStart"}})
			if err != nil {
				return nil, nil, err
			}
			sc := Script{Unit: u.Name}
			for _, l := range lines {
				switch {
				case l.key == "ExecStart":
					sc.Path = l.value
				case l.key == "Before" && l.value == "etcd-member.service":
					sc.BeforeEtcd = true
				case l.key == "After" && l.value == "etcd-member.service" && u.Command == "start":
					sc.AfterEtcd = true
				case l.key == "Type" && l.value != "oneshot":
					return nil, nil, fmt.Errorf("unit %s: type %s: the rehearsal runs scripts as oneshot units", u.Name, l.value)
				}
			}
			out = append(out, sc)
		default:
			rest = append(rest, u)
		}
	}
	for unit, schedule := range schedules {
		i := slices.IndexFunc(out, func(sc Script) bool { return sc.Unit == unit })
		if i < 0 {
			return nil, nil, fmt.Errorf("unit %s.timer: starts %s, which is not a script unit", strings.TrimSuffix(unit, ".service"), unit)
		}
		out[i].Schedule = schedule
	}
	for _, sc := range out {
		if !sc.BeforeEtcd && !sc.AfterEtcd && sc.Schedule == "" {
			return nil, nil, fmt.Errorf("unit %s: runs %s, but neither etcd's start nor a timer starts it", sc.Unit, sc.Path)
		}
	}
	return rest, out, nil
}

// execStart is the ExecStart value of a unit file, or "".
func execStart(content string) string {
	for line := range strings.Lines(content) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart="); ok {
			return v
		}
	}
	return ""
}

// scriptFiles moves the scripts, and the files outside the TLS directory a
// script names, from wf to p.Files; the rest is returned.
func scriptFiles(wf []config.File, scripts []Script, p *Process) ([]config.File, error) {
	var rest []config.File
	var texts []string
	for i, f := range wf {
		if !slices.ContainsFunc(scripts, func(sc Script) bool { return sc.Path == f.Path }) {
			continue
		}
		// A script may come compressed, as coreos-cloudinit decodes it.
		text, err := config.DecodeContent(f.Content, f.Encoding)
		if err != nil {
			return nil, fmt.Errorf("write_files %s: encoding %q: %w", f.Path, f.Encoding, err)
		}
		wf[i].Content, wf[i].Encoding = string(text), ""
		texts = append(texts, string(text))
	}
	for _, sc := range scripts {
		if !slices.ContainsFunc(wf, func(f config.File) bool { return f.Path == sc.Path }) {
			return nil, fmt.Errorf("unit %s: runs %s, which write_files does not write", sc.Unit, sc.Path)
		}
	}
	for _, f := range wf {
		named := slices.ContainsFunc(texts, func(t string) bool { return strings.Contains(t, f.Path) })
		isScript := slices.ContainsFunc(scripts, func(sc Script) bool { return sc.Path == f.Path })
		if !isScript && (!named || strings.HasPrefix(f.Path, cloudconfig.TLSDir+"/")) {
			rest = append(rest, f)
			continue
		}
		mode, err := strconv.ParseUint(f.RawFilePermissions, 8, 32)
		if err != nil || f.Encoding != "" {
			return nil, fmt.Errorf("write_files %s: permissions %q, encoding %q: the rehearsal writes plain files with octal permissions", f.Path, f.RawFilePermissions, f.Encoding)
		}
		p.Files = append(p.Files, File{Path: f.Path, Mode: os.FileMode(mode), Owner: f.Owner, Content: f.Content})
	}
	return rest, nil
}

// dataVolume interprets the units that give etcd a data volume of its own:
// a mount unit at the flavor's etcd data directory, and a oneshot unit that
// runs a script from write_files on the mounted device to format it when
// blank. The node's own directory stands in for the volume: it starts blank
// and keeps its data across restarts. It returns the other units and takes
// the script out of cc.WriteFiles.
func dataVolume(cc *config.CloudConfig, dataDir string) ([]config.Unit, error) {
	var rest []config.Unit
	device := ""
	type prep struct{ unit, script, arg string }
	var preps []prep
	for _, u := range cc.CoreOS.Units {
		if u.Content == "" || len(u.DropIns) > 0 {
			rest = append(rest, u)
			continue
		}
		switch {
		case strings.HasSuffix(u.Name, ".mount"):
			lines, err := parseUnit(u.Name, u.Content, map[string][]string{
				"Unit": {"Description", "Requires", "After", "Before", "Wants"}, "Mount": {"What", "Where", "Type"}})
			if err != nil {
				return nil, err
			}
			for _, l := range lines {
				switch {
				case l.key == "Where" && l.value != dataDir:
					return nil, fmt.Errorf("unit %s: mounts %s: the rehearsal interprets only a volume at etcd's data directory %s", u.Name, l.value, dataDir)
				case l.key == "What":
					device = l.value
				}
			}
		case u.Command == "":
			lines, err := parseUnit(u.Name, u.Content, map[string][]string{
				"Unit": {"Description", "Before", "After", "Requires"}, "Service": {"Type", "RemainAfterExit", "ExecStart"}})
			if err != nil {
				return nil, err
			}
			for _, l := range lines {
				if l.key == "ExecStart" {
					w := strings.Fields(l.value)
					if len(w) != 2 {
						return nil, fmt.Errorf("unit %s: line %q: the rehearsal interprets only a volume script run on the device", u.Name, l.line)
					}
					preps = append(preps, prep{u.Name, w[0], w[1]})
				}
			}
		default:
			rest = append(rest, u)
		}
	}
	scripts := map[string]bool{}
	for _, p := range preps {
		if device == "" || p.arg != device {
			return nil, fmt.Errorf("unit %s: runs %s on %s, which is not the etcd data volume", p.unit, p.script, p.arg)
		}
		scripts[p.script] = true
	}
	cc.WriteFiles = slices.DeleteFunc(cc.WriteFiles, func(f config.File) bool { return scripts[f.Path] })
	return rest, nil
}

// dockerKeys are the unit-file keys of a docker-run unit the rehearsal knows;
// the rehearsal itself starts, supervises and orders the process.
var dockerKeys = map[string][]string{
	"Unit":    {"Description", "Wants", "After", "Requires"},
	"Service": {"Restart", "RestartSec", "ExecStartPre", "ExecStart", "ExecStop"},
	"Install": {"WantedBy"},
}

// dockerRunning is what a unit's `docker run` starts: the image's etcd
// release, the args given to etcd, and the host directories mounted.
type dockerRunning struct {
	release string
	args    []string
	mounts  []mount
}

// dockerUnit reads a unit whose ExecStart is `docker run ... <etcd image>
// args...`.
func dockerUnit(unit, content string) (dockerRunning, error) {
	lines, err := parseUnit(unit, content, dockerKeys)
	if err != nil {
		return dockerRunning{}, err
	}
	container := ""
	var run dockerRunning
	var housekept []string
	for _, l := range lines {
		words := strings.Fields(l.value)
		switch l.key {
		case "ExecStart":
			if container, run, err = dockerRun(words); err != nil {
				return dockerRunning{}, fmt.Errorf("unit %s: line %q: %w", unit, l.line, err)
			}
		case "ExecStartPre", "ExecStop":
			// Container housekeeping only: removing or stopping the container.
			rm := len(words) == 4 && words[1] == "rm" && words[2] == "--force"
			stop := len(words) == 3 && words[1] == "stop"
			if len(words) < 3 || words[0] != "-/usr/bin/docker" || !rm && !stop {
				return dockerRunning{}, fmt.Errorf("unit %s: line %q: the rehearsal interprets only `-/usr/bin/docker rm --force NAME` and `-/usr/bin/docker stop NAME`", unit, l.line)
			}
			housekept = append(housekept, words[len(words)-1])
		}
	}
	if run.args == nil {
		return dockerRunning{}, fmt.Errorf("unit %s: no ExecStart", unit)
	}
	for _, name := range housekept {
		if name != container {
			return dockerRunning{}, fmt.Errorf("unit %s: removes or stops container %q but runs %q", unit, name, container)
		}
	}
	return run, nil
}

// dockerRun splits `/usr/bin/docker run FLAGS IMAGE ARGS` and returns the
// container name and what it runs. Only flags that keep the process what
// the rehearsal runs are accepted: a name, the host network, etcd as
// entrypoint, read-only mounts.
func dockerRun(words []string) (string, dockerRunning, error) {
	var run dockerRunning
	if len(words) < 2 || words[0] != "/usr/bin/docker" || words[1] != "run" {
		return "", run, fmt.Errorf("ExecStart: the rehearsal interprets only /usr/bin/docker run")
	}
	host, name := false, ""
	for i, w := range words[2:] {
		if !strings.HasPrefix(w, "-") {
			if !host {
				return "", run, fmt.Errorf("the container must use --network=host to serve the node's addresses")
			}
			release, err := releaseOf(w)
			if err != nil {
				return "", run, err
			}
			run.release, run.args = release, slices.Clone(words[i+3:])
			return name, run, nil
		}
		flag, value, _ := strings.Cut(w, "=")
		switch {
		case flag == "--name" && value != "":
			name = value
		case w == "--network=host" || w == "--net=host":
			host = true
		case w == "--rm":
		case flag == "--entrypoint" && value == etcdImageEntrypoint:
		case flag == "--volume" || flag == "-v":
			parts := strings.Split(value, ":")
			if len(parts) != 3 || parts[2] != "ro" || !strings.HasPrefix(parts[0], "/") || !strings.HasPrefix(parts[1], "/") {
				return "", run, fmt.Errorf("docker flag %q: the rehearsal interprets only read-only mounts /host:/container:ro", w)
			}
			run.mounts = append(run.mounts, mount{host: parts[0], container: parts[1]})
		default:
			return "", run, fmt.Errorf("docker flag %q: the rehearsal cannot interpret it", w)
		}
	}
	return "", run, fmt.Errorf("no image")
}

// proxyFlags are the flags of each local proxy the rehearsal interprets.
var proxyFlags = map[Kind][]string{
	Gateway:   {"--listen-addr", "--endpoints", "--retry-delay"},
	GRPCProxy: {"--listen-addr", "--advertise-client-url", "--metrics-addr", "--endpoints", "--cacert", "--cert", "--key"},
}

// proxyArgs checks the flags of `etcd gateway start` or `etcd grpc-proxy
// start`: its own addresses move to the node's loopback, its endpoints (the
// central nodes' cloud addresses) to theirs, and the files it reads to the
// node's files as its container sees them.
func proxyArgs(unit string, kind Kind, args []string, addr string, central map[string]string, c container) ([]string, error) {
	if len(args) < 2 || args[0] != string(kind) || args[1] != "start" {
		return nil, fmt.Errorf("unit %s: etcd %s: the rehearsal interprets only `etcd %s start`", unit, strings.Join(args, " "), kind)
	}
	out := []string{string(kind), "start"}
	seen := map[string]string{}
	for _, a := range args[2:] {
		flag, value, _ := strings.Cut(a, "=")
		seen[flag] = value
		if !slices.Contains(proxyFlags[kind], flag) {
			return nil, fmt.Errorf("unit %s: %s flag %q: the rehearsal cannot interpret it", unit, kind, a)
		}
		switch flag {
		case "--listen-addr", "--advertise-client-url":
			h, err := localHostPort(value, addr)
			if err != nil {
				return nil, fmt.Errorf("unit %s: %s: %w", unit, a, err)
			}
			out = append(out, flag+"="+h)
		case "--metrics-addr":
			u, err := localURL(value, func(h string) (string, bool) { return addr, h == addr || h == "127.0.0.1" })
			if err != nil {
				return nil, fmt.Errorf("unit %s: %s: %w", unit, a, err)
			}
			out = append(out, flag+"="+u)
		case "--endpoints":
			eps, err := centralEndpoints(unit, value, central)
			if err != nil {
				return nil, err
			}
			out = append(out, flag+"="+eps)
		case "--retry-delay":
			if _, err := time.ParseDuration(value); err != nil {
				return nil, fmt.Errorf("unit %s: %s: %w", unit, a, err)
			}
			out = append(out, a)
		case "--cacert", "--cert", "--key":
			local, err := c.file(value)
			if err != nil {
				return nil, fmt.Errorf("unit %s: %s: %w", unit, flag, err)
			}
			out = append(out, flag+"="+local)
		}
	}
	// Without it a grpc-proxy dials itself at its default, 127.0.0.1:23790,
	// and exits (etcd 3.5, 3.6) or advertises an address nothing serves (3.7).
	if kind == GRPCProxy && seen["--advertise-client-url"] != seen["--listen-addr"] {
		return nil, fmt.Errorf("unit %s: grpc-proxy advertises %q, not its listen address %q", unit, seen["--advertise-client-url"], seen["--listen-addr"])
	}
	return out, nil
}

// centralEndpoints maps a comma-separated list of central client addresses
// (host:port as the cloud knows them) to the central nodes' local ones.
func centralEndpoints(unit, list string, central map[string]string) (string, error) {
	var eps []string
	for _, e := range strings.Split(list, ",") {
		h, port, err := net.SplitHostPort(e)
		if err != nil || central[h] == "" {
			return "", fmt.Errorf("unit %s: endpoint %q is not a central node's client address", unit, e)
		}
		eps = append(eps, net.JoinHostPort(central[h], port))
	}
	return strings.Join(eps, ","), nil
}

// localHostPort maps host:port on the node (its own address after
// substitution, or 127.0.0.1) to the node's loopback address.
func localHostPort(hp, addr string) (string, error) {
	h, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", err
	}
	if h != addr && h != "127.0.0.1" {
		return "", fmt.Errorf("host %s is not this node", h)
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "", fmt.Errorf("port %q", port)
	}
	return net.JoinHostPort(addr, port), nil
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
