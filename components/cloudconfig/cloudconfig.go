// Package cloudconfig renders the #cloud-config user data of the two node roles
// of an isolated-etcd cluster: central nodes run voting etcd members, workers run
// only a local etcd proxy on 127.0.0.1:2379.
//
// It is plain Go: it knows etcd and the node OS, and nothing of Pulumi or clouds.
package cloudconfig

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// Flavor is the node OS and how etcd is started on it.
type Flavor string

const (
	// Flatcar runs etcd 3.5 in a container: etcd-member.service on central
	// nodes, a local proxy on workers.
	Flatcar Flavor = "flatcar"
	// CoreOSEtcd2 is the seed's cloud-config for images that still ship etcd2
	// and fleet.
	CoreOSEtcd2 Flavor = "coreos-etcd2"
)

// Flavors lists every flavor, default first.
var Flavors = []Flavor{Flatcar, CoreOSEtcd2}

// WorkerProxy is what serves etcd on a worker's 127.0.0.1:2379.
type WorkerProxy string

const (
	// Gateway is `etcd gateway`, a TCP forwarder to the central members' client
	// endpoints: v2 and v3 requests both pass.
	Gateway WorkerProxy = "gateway"
	// V2Proxy is the seed's `proxy: on`: an etcd v2 proxy that finds the members
	// through the discovery URL. Removed in etcd 3.6.
	V2Proxy WorkerProxy = "v2-proxy"
)

// WorkerProxies lists every worker proxy, default first.
var WorkerProxies = []WorkerProxy{Gateway, V2Proxy}

// Supports reports whether workers of flavor f can run proxy p. etcd2 has no
// gateway, so coreos-etcd2 workers run only the v2 proxy.
func (f Flavor) Supports(p WorkerProxy) bool {
	return f == Flatcar || p == V2Proxy
}

// DefaultWorkerProxy is the proxy a flavor's workers run unless told otherwise.
func (f Flavor) DefaultWorkerProxy() WorkerProxy {
	if f == CoreOSEtcd2 {
		return V2Proxy
	}
	return Gateway
}

// EtcdImage is the etcd every Flatcar node runs, central and worker alike. It is
// pinned, not Flatcar's default, because Flatcar now ships etcd 3.6, which has
// no v2 proxy, and because the rehearsal must run the same etcd as the nodes.
const EtcdImage = "quay.io/coreos/etcd:v3.5.21"

// Ports every node uses; the cloud firewalls are written against the same numbers.
const (
	ClientPort = 2379
	PeerPort   = 2380
)

// Settings are what every node's cloud-config is rendered from.
type Settings struct {
	Flavor      Flavor
	WorkerProxy WorkerProxy
	// DiscoveryURL bootstraps the central members, and v2-proxy workers find
	// the members through it.
	DiscoveryURL      string
	SSHAuthorizedKeys []string
}

//go:embed templates/*.yaml.tmpl
var templateFiles embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"quote": quote,
	"join":  strings.Join,
}).ParseFS(templateFiles, "templates/*.yaml.tmpl"))

// quote renders s as a YAML double-quoted scalar (JSON strings are valid YAML).
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var memberName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// unsafeInUnit are characters that would break out of a systemd Environment=
// line or a YAML block scalar.
const unsafeInUnit = "\"\\'\n\r\t $%`"

// DataDir is where a flavor's etcd keeps its data: the central node's data
// volume is mounted there.
func (f Flavor) DataDir() string {
	if f == CoreOSEtcd2 {
		return "/var/lib/etcd2"
	}
	return "/var/lib/etcd"
}

var devicePath = regexp.MustCompile(`^/dev/[A-Za-z0-9/._:-]+$`)

// Central renders the cloud-config of the central node whose etcd member is
// called name and whose data volume appears as dataDevice.
func (c Settings) Central(name, dataDevice string) (string, error) {
	if !memberName.MatchString(name) {
		return "", fmt.Errorf("central node name %q: want lower-case letters, digits and dashes", name)
	}
	if !devicePath.MatchString(dataDevice) {
		return "", fmt.Errorf("central node %s: data device %q is not a /dev path", name, dataDevice)
	}
	if err := c.check(); err != nil {
		return "", err
	}
	dir := c.Flavor.DataDir()
	return c.render(fmt.Sprintf("%s-central.yaml.tmpl", c.Flavor), map[string]any{
		"Name":       name,
		"DataDevice": dataDevice,
		"DataDir":    dir,
		// systemd requires a mount unit to be named after its path.
		"DataMount": strings.ReplaceAll(strings.TrimPrefix(dir, "/"), "/", "-") + ".mount",
	})
}

// Worker renders the cloud-config every worker carries. centralEndpoints are
// the members' client endpoints (host:port); the gateway forwards to them.
func (c Settings) Worker(centralEndpoints []string) (string, error) {
	if err := c.check(); err != nil {
		return "", err
	}
	if c.WorkerProxy == Gateway {
		if len(centralEndpoints) == 0 {
			return "", fmt.Errorf("worker gateway: no central endpoints to forward to")
		}
		for _, e := range centralEndpoints {
			if e == "" || strings.ContainsAny(e, unsafeInUnit+",") {
				return "", fmt.Errorf("worker gateway: central endpoint %q is not host:port", e)
			}
		}
	}
	return c.render(fmt.Sprintf("%s-worker-%s.yaml.tmpl", c.Flavor, c.WorkerProxy), map[string]any{
		"Endpoints": centralEndpoints,
	})
}

func (c Settings) check() error {
	switch c.Flavor {
	case Flatcar, CoreOSEtcd2:
	default:
		return fmt.Errorf("unknown flavor %q", c.Flavor)
	}
	if !c.Flavor.Supports(c.WorkerProxy) {
		return fmt.Errorf("flavor %s cannot run worker proxy %q", c.Flavor, c.WorkerProxy)
	}
	if c.DiscoveryURL == "" || strings.ContainsAny(c.DiscoveryURL, unsafeInUnit) {
		return fmt.Errorf("discovery URL %q is empty or holds characters a unit file cannot carry", c.DiscoveryURL)
	}
	for _, k := range c.SSHAuthorizedKeys {
		if strings.ContainsAny(k, "\n\r") {
			return fmt.Errorf("SSH key %q spans lines", k)
		}
	}
	return nil
}

func (c Settings) render(name string, data map[string]any) (string, error) {
	data["DiscoveryURL"] = c.DiscoveryURL
	data["SSHAuthorizedKeys"] = c.SSHAuthorizedKeys
	data["EtcdImage"] = EtcdImage
	data["ClientPort"] = ClientPort
	data["PeerPort"] = PeerPort
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return b.String(), nil
}
