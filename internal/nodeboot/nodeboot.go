// Package nodeboot does what a node's OS does with its user data: it reads
// the cloud-config as coreos-cloudinit would, or the Ignition config as
// Ignition would, and returns the etcd process the node would start, with
// its addresses on loopback.
package nodeboot

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coreos/coreos-cloudinit/config"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/plan"
)

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
	// StopGrace is how long the unit's stop lets etcd exit after SIGTERM
	// before it is killed.
	StopGrace time.Duration
	// EnvFile, set, is a file on the node whose ETCD_* lines, when it
	// exists at start, override Env (systemd's EnvironmentFile=-).
	EnvFile string
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
	// ByOperator is set when nothing on the node starts it: the operator
	// does (cloudconfig.Leave).
	ByOperator bool
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

// WithEnvFile is p as systemd starts it when its EnvFile holds content:
// ETCD_INITIAL_CLUSTER and ETCD_INITIAL_CLUSTER_STATE lines, as a node's
// join script writes them. The initial cluster's members are renamed to
// the URLs p's own initial cluster gives them here.
func (p Process) WithEnvFile(content string) (Process, error) {
	local := map[string]string{}
	for _, m := range strings.Split(p.Getenv("ETCD_INITIAL_CLUSTER"), ",") {
		if name, u, ok := strings.Cut(m, "="); ok {
			local[name] = u
		}
	}
	set := map[string]string{}
	for line := range strings.Lines(content) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		switch {
		case !ok || (k != "ETCD_INITIAL_CLUSTER" && k != "ETCD_INITIAL_CLUSTER_STATE"):
			return p, fmt.Errorf("%s: line %q: the rehearsal interprets ETCD_INITIAL_CLUSTER= and ETCD_INITIAL_CLUSTER_STATE= only", p.EnvFile, line)
		case k == "ETCD_INITIAL_CLUSTER":
			var members []string
			for _, m := range strings.Split(v, ",") {
				name, _, _ := strings.Cut(m, "=")
				if local[name] == "" {
					return p, fmt.Errorf("%s: member %q of %s is not in the node's own initial cluster", p.EnvFile, name, k)
				}
				members = append(members, name+"="+local[name])
			}
			v = strings.Join(members, ",")
		}
		set[k] = v
	}
	return p.WithEnv(set), nil
}

// WithDropIn is p as systemd runs it once a drop-in called name, holding
// content, is added to its unit: the keys it sets take their new values.
func (p Process) WithDropIn(name, content string) (Process, error) {
	set := map[string]string{}
	if err := dropIn(p.Unit, config.UnitDropIn{Name: name, Content: content}, set, &p.EnvFile); err != nil {
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

// systemdStopGrace is how long systemd lets a unit's process exit after
// SIGTERM before SIGKILL (DefaultTimeoutStopSec): the image's etcd2.service.
const systemdStopGrace = 90 * time.Second

func interpret(flavor cloudconfig.Flavor, node plan.Node, addr string, central map[string]string) (Process, error) {
	cc, stopGrace, err := readUserData(flavor, node.UserData, addr)
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

	p := Process{Node: node.Name, Role: node.Role, Addr: addr, StopGrace: stopGrace}
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
		p.StopGrace = systemdStopGrace
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
