package nodeboot

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coreos/coreos-cloudinit/config"
	ign "github.com/coreos/ignition/v2/config/v3_4"
	"github.com/coreos/ignition/v2/config/v3_4/types"
	"github.com/vincent-petithory/dataurl"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/components/ignition"
)

// readUserData reads a node's user data, a cloud-config or an Ignition
// config, into the cloud-config it stands for, with the node's address
// substituted and the project's etcd-member unit read as the wrapper's
// drop-ins it stands for: the rest of the package interprets that. It
// returns the member unit's stop grace too (0 without the unit).
func readUserData(flavor cloudconfig.Flavor, text, addr string) (*config.CloudConfig, time.Duration, error) {
	cc, err := parseUserData(flavor, text, addr)
	if err != nil || flavor != cloudconfig.Flatcar {
		return cc, 0, err
	}
	var grace time.Duration
	for i, u := range cc.CoreOS.Units {
		if u.Name != cloudconfig.MemberUnit {
			continue
		}
		if u.Content == "" {
			return nil, 0, fmt.Errorf("unit %s: drop-ins for the OS's etcd wrapper, which an image may not ship: want the project's own unit", u.Name)
		}
		if cc.CoreOS.Units[i], grace, err = memberUnit(u); err != nil {
			return nil, 0, err
		}
	}
	return cc, grace, nil
}

func parseUserData(flavor cloudconfig.Flavor, text, addr string) (*config.CloudConfig, error) {
	if strings.HasPrefix(strings.TrimSpace(text), "{") {
		if flavor != cloudconfig.Flatcar {
			return nil, fmt.Errorf("an Ignition config on flavor %s, which runs cloud-config only", flavor)
		}
		return fromIgnition(text, addr)
	}
	if !config.IsCloudConfig(text) {
		return nil, fmt.Errorf("user data is neither a #cloud-config nor an Ignition config")
	}
	cc, err := config.NewCloudConfig(substitute(text, addr))
	if err != nil {
		return nil, fmt.Errorf("cloud-config: %w", err)
	}
	return cc, nil
}

// fromIgnition reads an Ignition config with Ignition's own parser, which
// validates it, and returns the cloud-config it does what: files with
// their mode and owner, units with their drop-ins (enabled, or wanted by
// the boot target through a link: started), the core user's SSH keys, the
// update strategy; the metadata agent's address variables are the node's
// address. Anything else (disks, filesystems, directories) is an error.
func fromIgnition(text, addr string) (*config.CloudConfig, error) {
	cfg, report, err := ign.Parse([]byte(text))
	if err != nil || len(report.Entries) > 0 {
		return nil, fmt.Errorf("ignition: %v %s", err, report)
	}
	cc := &config.CloudConfig{}
	if err := ignitionUsers(cfg.Passwd, cc); err != nil {
		return nil, err
	}
	rest := cfg.Storage
	rest.Files, rest.Links = nil, nil
	if !reflect.DeepEqual(rest, types.Storage{}) {
		// The data volume is formatted and mounted at runtime, as with
		// cloud-config: Ignition would wait for it 90 s only (docs/ignition.md).
		return nil, fmt.Errorf("storage: disks, raid, luks, filesystems or directories: the rehearsal cannot interpret them")
	}
	for _, f := range cfg.Storage.Files {
		file, err := ignitionFile(f)
		if err != nil {
			return nil, err
		}
		if f.Path == updateConf {
			strategy, ok := strings.CutPrefix(file.Content, "REBOOT_STRATEGY=")
			if !ok || strings.Count(strategy, "\n") != 1 || !strings.HasSuffix(strategy, "\n") {
				return nil, fmt.Errorf("file %s: %q: the rehearsal interprets only REBOOT_STRATEGY=", f.Path, file.Content)
			}
			cc.CoreOS.Update.RebootStrategy = strings.TrimSuffix(strategy, "\n")
			continue
		}
		cc.WriteFiles = append(cc.WriteFiles, file)
	}
	started, err := wantedAtBoot(cfg.Storage.Links)
	if err != nil {
		return nil, err
	}
	for _, u := range cfg.Systemd.Units {
		unit, err := ignitionUnit(u, addr, started[u.Name])
		if err != nil {
			return nil, err
		}
		delete(started, u.Name)
		cc.CoreOS.Units = append(cc.CoreOS.Units, unit)
	}
	for name := range started {
		return nil, fmt.Errorf("link %s/%s: to a unit the config does not write", ignition.WantsDir(ignition.BootTarget), name)
	}
	return cc, nil
}

// updateConf is where Flatcar's update engine reads its reboot strategy.
const updateConf = "/etc/flatcar/update.conf"

// ignitionUsers takes the core user's SSH keys; any other user, group or
// setting is an error.
func ignitionUsers(p types.Passwd, cc *config.CloudConfig) error {
	if len(p.Groups) > 0 {
		return fmt.Errorf("passwd.groups: the rehearsal cannot interpret them")
	}
	for _, u := range p.Users {
		keys := u.SSHAuthorizedKeys
		u.SSHAuthorizedKeys = nil
		if u.Name != "core" || !reflect.DeepEqual(u, types.PasswdUser{Name: "core"}) {
			return fmt.Errorf("passwd.users %s: the rehearsal interprets only the core user's SSH keys", u.Name)
		}
		for _, k := range keys {
			cc.SSHAuthorizedKeys = append(cc.SSHAuthorizedKeys, string(k))
		}
	}
	return nil
}

// ignitionFile is a file as write_files would write it: its contents
// decoded (a data URL, gzipped or not; nothing fetched), its mode and owner.
func ignitionFile(f types.File) (config.File, error) {
	c := f.Contents
	rest := f
	rest.Contents, rest.Mode, rest.User, rest.Group, rest.Path = types.Resource{}, nil, types.NodeUser{}, types.NodeGroup{}, ""
	if !reflect.DeepEqual(rest, types.File{}) || c.Source == nil || len(c.HTTPHeaders) > 0 || c.Verification != (types.Verification{}) || f.Mode == nil {
		return config.File{}, fmt.Errorf("file %s: the rehearsal interprets only inline contents with a mode and owner", f.Path)
	}
	u, err := dataurl.DecodeString(*c.Source)
	if err != nil {
		return config.File{}, fmt.Errorf("file %s: contents are not a data URL: %w", f.Path, err)
	}
	data := u.Data
	if c.Compression != nil && *c.Compression != "" {
		if *c.Compression != "gzip" {
			return config.File{}, fmt.Errorf("file %s: compression %s: the rehearsal interprets gzip", f.Path, *c.Compression)
		}
		z, err := gzip.NewReader(bytes.NewReader(data))
		if err == nil {
			data, err = io.ReadAll(z)
		}
		if err != nil {
			return config.File{}, fmt.Errorf("file %s: %w", f.Path, err)
		}
	}
	owner := "root"
	if f.User.Name != nil {
		owner = *f.User.Name
	}
	if f.Group.Name != nil {
		owner += ":" + *f.Group.Name
	}
	if f.User.ID != nil || f.Group.ID != nil {
		return config.File{}, fmt.Errorf("file %s: owner by number: the rehearsal interprets names", f.Path)
	}
	return config.File{Path: f.Path, Content: string(data), RawFilePermissions: fmt.Sprintf("%04o", *f.Mode), Owner: owner}, nil
}

// wantedAtBoot are the units the boot target wants through links.
func wantedAtBoot(links []types.Link) (map[string]bool, error) {
	out := map[string]bool{}
	for _, l := range links {
		dir, name, _ := strings.Cut(l.Path, ignition.WantsDir(ignition.BootTarget)+"/")
		if dir != "" || name == "" || l.Target == nil || *l.Target != "/etc/systemd/system/"+name || l.Hard != nil && *l.Hard {
			return nil, fmt.Errorf("link %s: the rehearsal interprets only units the boot target wants", l.Path)
		}
		out[name] = true
	}
	return out, nil
}

// metadataLines are what a unit that takes the node's address from the
// metadata agent adds: in the rehearsal the address is known.
var metadataLines = []string{"EnvironmentFile=" + ignition.MetadataEnv, "Requires=coreos-metadata.service", "After=coreos-metadata.service"}

// ignitionUnit is a unit as coreos.units would run it, with the metadata
// agent's address variables replaced by addr.
func ignitionUnit(u types.Unit, addr string, wanted bool) (config.Unit, error) {
	if u.Mask != nil && *u.Mask {
		return config.Unit{}, fmt.Errorf("unit %s: masked: the rehearsal cannot interpret it", u.Name)
	}
	out := config.Unit{Name: u.Name}
	if u.Enabled != nil && *u.Enabled {
		out.Command, out.Enable = "start", true
	}
	if wanted {
		if out.Enable {
			return config.Unit{}, fmt.Errorf("unit %s: enabled and linked", u.Name)
		}
		out.Command = "start"
	}
	if u.Contents != nil {
		out.Content = withAddr(*u.Contents, addr)
	}
	for _, d := range u.Dropins {
		if d.Contents == nil {
			return config.Unit{}, fmt.Errorf("unit %s drop-in %s: empty", u.Name, d.Name)
		}
		out.DropIns = append(out.DropIns, config.UnitDropIn{Name: d.Name, Content: withAddr(*d.Contents, addr)})
	}
	return out, nil
}

// addressVar is a metadata agent's variable of the node's address, as
// systemd substitutes it.
var addressVar = regexp.MustCompile(`\$\{(COREOS_[A-Z0-9_]+)\}`)

// withAddr replaces the address variables the program renders with addr
// and drops the lines that read them; any other variable stays, for
// the unit's reader to refuse.
func withAddr(content, addr string) string {
	content = addressVar.ReplaceAllStringFunc(content, func(v string) string {
		if slices.Contains(slices.Collect(maps.Values(ignition.AddressVars)), v[2:len(v)-1]) {
			return addr
		}
		return v
	})
	var b strings.Builder
	for line := range strings.Lines(content) {
		if !slices.Contains(metadataLines, strings.TrimSpace(line)) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// memberUnitKeys are the lines of the project's etcd unit.
var memberUnitKeys = map[string][]string{
	"Unit":    {"Description", "Requires", "After"},
	"Service": {"Environment", "Restart", "RestartSec", "ExecStartPre", "ExecStart", "ExecStop"},
	"Install": {"WantedBy"},
}

// memberUnit reads the project's etcd unit, which does what Flatcar's
// wrapper does, as the wrapper's drop-ins: its Environment= lines become a
// drop-in before the unit's own (theirs win, as systemd has it), and the
// settings on its command line one after them (docker's --env wins over
// its --env-file); a setting in both is an error. Its command must be the
// wrapper's: the image ETCD_IMAGE names, the host network, the etcd user,
// the wrapper's mounts, the unit's whole ETCD_* environment, the data
// directory the etcd user's; the data directory is the rehearsal's own.
func memberUnit(u config.Unit) (config.Unit, time.Duration, error) {
	var env []string
	var pre, start []string
	stopGrace := time.Duration(-1)
	for line := range strings.Lines(u.Content) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		key, value, _ := strings.Cut(line, "=")
		known := false
		for _, keys := range memberUnitKeys {
			known = known || slices.Contains(keys, key)
		}
		switch {
		case !known:
			return config.Unit{}, 0, fmt.Errorf("unit %s: line %q: the rehearsal cannot interpret it", u.Name, line)
		case key == "Environment":
			env = append(env, line)
		case key == "ExecStartPre":
			pre = append(pre, value)
		case key == "ExecStart":
			start = strings.Fields(value)
		case key == "ExecStop":
			name, grace, ok := dockerStop(strings.Fields(value))
			if !ok || name != "etcd-member" {
				return config.Unit{}, 0, fmt.Errorf("unit %s: line %q: the rehearsal interprets only `-/usr/bin/docker stop [--time=SECONDS] etcd-member`", u.Name, line)
			}
			stopGrace = grace
		}
	}
	if stopGrace < 0 {
		return config.Unit{}, 0, fmt.Errorf("unit %s: no ExecStop: systemd would stop the docker client, not the container", u.Name)
	}
	envFile := ""
	uid, gid, _ := strings.Cut(cloudconfig.EtcdUser, ":")
	ownsDataDir := false
	for _, p := range pre {
		switch f, ok := strings.CutPrefix(p, "/bin/sh -c 'umask 077 && env | grep ^ETCD_ >"); {
		case p == "-/usr/bin/docker rm --force etcd-member":
		case p == "/usr/bin/install -d -o "+uid+" -g "+gid+" -m 0700 ${ETCD_DATA_DIR}":
			ownsDataDir = true
		case ok && strings.HasSuffix(f, "'") && !strings.ContainsAny(f[:len(f)-1], " '"):
			envFile = f[:len(f)-1]
		default:
			return config.Unit{}, 0, fmt.Errorf("unit %s: ExecStartPre=%s: the rehearsal interprets only removing the container, making the data directory the etcd user's and writing the ETCD_* environment to a file", u.Name, p)
		}
	}
	if !ownsDataDir {
		return config.Unit{}, 0, fmt.Errorf("unit %s: no ExecStartPre makes the data directory the etcd user's (%s), which etcd runs as", u.Name, cloudconfig.EtcdUser)
	}
	want := []string{"/usr/bin/docker", "run", "--name=etcd-member", "--network=host", "--user=" + cloudconfig.EtcdUser,
		"--volume=${ETCD_DATA_DIR}:${ETCD_DATA_DIR}", "--volume=/run:/run", "--volume=/usr/share/ca-certificates:/usr/share/ca-certificates:ro",
		"--volume=${ETCD_SSL_DIR}:" + cloudconfig.WrapperSSLDir + ":ro", "--env-file=" + envFile}
	tail := []string{"--entrypoint=" + etcdImageEntrypoint, "${ETCD_IMAGE}"}
	if envFile == "" || len(start) < len(want)+len(tail) || !slices.Equal(start[:len(want)], want) || !slices.Equal(start[len(start)-len(tail):], tail) {
		return config.Unit{}, 0, fmt.Errorf("unit %s: ExecStart=%s: the rehearsal interprets only the wrapper's docker run: %s [--env=ETCD_...] %s",
			u.Name, strings.Join(start, " "), strings.Join(want, " "), strings.Join(tail, " "))
	}
	var flags []string
	for _, flag := range start[len(want) : len(start)-len(tail)] {
		kv, ok := strings.CutPrefix(flag, "--env=")
		if !ok || !strings.HasPrefix(kv, "ETCD_") || strings.ContainsAny(kv, `"$`) {
			return config.Unit{}, 0, fmt.Errorf("unit %s: docker flag %q: the rehearsal interprets only --env=ETCD_...", u.Name, flag)
		}
		key, _, _ := strings.Cut(kv, "=")
		for _, d := range u.DropIns {
			if strings.Contains(d.Content, `Environment="`+key+"=") {
				return config.Unit{}, 0, fmt.Errorf("unit %s: %s both on docker's command line and in drop-in %s", u.Name, key, d.Name)
			}
		}
		flags = append(flags, `Environment="`+kv+`"`)
	}
	// The rehearsal gives etcd a data directory of its own, where the unit
	// mounts the node's.
	dataDir := `Environment="ETCD_DATA_DIR=` + cloudconfig.Flatcar.DataDir() + `"`
	if !slices.Contains(env, dataDir) {
		return config.Unit{}, 0, fmt.Errorf("unit %s: no %s: the data volume is mounted elsewhere", u.Name, dataDir)
	}
	env = slices.DeleteFunc(env, func(l string) bool { return l == dataDir })
	u.DropIns = append([]config.UnitDropIn{{Name: "00-" + u.Name, Content: "[Service]\n" + strings.Join(env, "\n") + "\n"}}, u.DropIns...)
	if len(flags) > 0 {
		u.DropIns = append(u.DropIns, config.UnitDropIn{Name: "zz-" + u.Name + "-command-line", Content: "[Service]\n" + strings.Join(flags, "\n") + "\n"})
	}
	u.Content = ""
	return u, stopGrace, nil
}
