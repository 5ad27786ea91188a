// Package ignition renders the Ignition user data of the two node roles
// from the settings their cloud-config is rendered from: the cloud-config's
// files, units (the project's own etcd-member.service among them) and keys,
// with the node's address from Flatcar's metadata agent, as a Butane
// document translated by Butane (flatcar variant, strict) at render time.
//
// It is plain Go: it knows etcd and the node OS, and nothing of Pulumi or
// clouds beyond the name of the variable that holds a node's address.
package ignition

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/coreos/butane/config/common"
	flatcar "github.com/coreos/butane/config/flatcar/v1_1"
	"github.com/coreos/coreos-cloudinit/config"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// AddressVars name, per platform (as afterburn names them), the variable
// of Flatcar's metadata agent that holds the node's private IPv4 address.
var AddressVars = map[string]string{
	"aws":          "COREOS_EC2_IPV4_LOCAL",
	"digitalocean": "COREOS_DIGITALOCEAN_IPV4_PRIVATE_0",
}

// MetadataEnv is where Flatcar's metadata agent (coreos-metadata.service,
// afterburn) writes the node's addresses, one COREOS_<PLATFORM>_... variable
// each; units that need the node's address read it.
const MetadataEnv = "/run/metadata/flatcar"

// BootTarget is what starts the units cloud-config starts at every boot.
const BootTarget = "multi-user.target"

// WantsDir is where the links of the units a target wants are.
func WantsDir(target string) string { return "/etc/systemd/system/" + target + ".wants" }

// privateIPv4 is what cloud-config substitutes with the node's address.
const privateIPv4 = "$private_ipv4"

//go:embed templates/*.tmpl
var templateFiles embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"quote":   quote,
	"literal": literal,
}).ParseFS(templateFiles, "templates/*.tmpl"))

// quote renders s as a YAML double-quoted scalar (JSON strings are valid YAML).
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// literal renders s as a YAML literal block scalar indented n spaces, with
// the chomping that keeps its trailing newlines exactly; as a quoted scalar
// when a block cannot carry it (empty, or starting with a space).
func literal(n int, s string) string {
	if s == "" || strings.HasPrefix(s, " ") || strings.HasPrefix(s, "\t") || strings.HasPrefix(s, "\n") {
		return quote(s)
	}
	body := strings.TrimRight(s, "\n")
	chomp := "-"
	switch len(s) - len(body) {
	case 0:
	case 1:
		chomp = ""
	default:
		chomp = "+"
	}
	pad := strings.Repeat(" ", n)
	var b strings.Builder
	b.WriteString("|" + chomp)
	for line := range strings.Lines(s) {
		line = strings.TrimSuffix(line, "\n")
		b.WriteString("\n")
		if line != "" {
			b.WriteString(pad + line)
		}
	}
	return b.String()
}

// Central renders the Ignition config of central node name, whose data
// volume appears as dataDevice; addressVar is the metadata agent's variable
// holding the node's private IPv4 address on its cloud. The volume is
// formatted and mounted at runtime, as cloud-config does: Ignition would
// wait for it only 90 s, and AWS attaches it once the instance runs
// (docs/ignition.md).
func Central(c cloudconfig.Settings, addressVar, name, dataDevice string) (string, error) {
	if err := check(c, addressVar); err != nil {
		return "", err
	}
	// The cloud-config is the one source of what the node writes and runs,
	// and its renderer checks the settings.
	cc, err := c.Central(name, dataDevice)
	if err != nil {
		return "", err
	}
	return translate(cc, addressVar, fmt.Sprintf("Central node %s: a voting etcd member (%s) whose data lives on its own volume at %s.", name, cloudconfig.MemberUnit, c.Flavor.DataDir()))
}

// Worker renders the Ignition config every worker carries; centralEndpoints
// are the members' client endpoints (host:port).
func Worker(c cloudconfig.Settings, addressVar string, centralEndpoints []string) (string, error) {
	if err := check(c, addressVar); err != nil {
		return "", err
	}
	cc, err := c.Worker(centralEndpoints)
	if err != nil {
		return "", err
	}
	return translate(cc, addressVar, fmt.Sprintf("Worker: no etcd member, only etcd %s on 127.0.0.1:%d.", c.WorkerProxy, cloudconfig.ClientPort))
}

var metadataVar = regexp.MustCompile(`^COREOS_[A-Z0-9_]+$`)

func check(c cloudconfig.Settings, addressVar string) error {
	if c.Flavor != cloudconfig.Flatcar {
		return fmt.Errorf("ignition is rendered for flavor %s only, not %s", cloudconfig.Flatcar, c.Flavor)
	}
	if !metadataVar.MatchString(addressVar) {
		return fmt.Errorf("address variable %q: want a variable of Flatcar's metadata agent, COREOS_...", addressVar)
	}
	return nil
}

// node is what the Butane template renders.
type node struct {
	Comment string
	SSHKeys []string
	Files   []file
	Links   []link
	Units   []unit
}

type link struct{ Path, Target string }

type file struct {
	Path, Mode, User, Group, Contents string
}

type unit struct {
	Name    string
	Enabled bool
	// WantedBy is the target that starts it at boot through a link, for
	// a unit started without an [Install] section.
	WantedBy string
	Contents string
	DropIns  []dropIn
}

type dropIn struct{ Name, Contents string }

// translate turns a rendered cloud-config into Ignition JSON: write_files
// become storage.files, coreos.units systemd.units. Anything else in it is
// an error, so that nothing the cloud-config says is lost on the way.
func translate(text, addressVar, comment string) (string, error) {
	cc, err := config.NewCloudConfig(text)
	if err != nil {
		return "", fmt.Errorf("cloud-config: %w", err)
	}
	n := node{Comment: comment, SSHKeys: cc.SSHAuthorizedKeys}
	if err := onlySections(cc); err != nil {
		return "", err
	}
	for _, u := range cc.CoreOS.Units {
		if u.Name == cloudconfig.MemberUnit {
			if u, err = memberUnit(u); err != nil {
				return "", err
			}
		}
		out, err := plainUnit(u, addressVar)
		if err != nil {
			return "", err
		}
		n.Units = append(n.Units, out)
		if out.WantedBy != "" {
			n.Links = append(n.Links, link{Path: WantsDir(out.WantedBy) + "/" + out.Name, Target: "/etc/systemd/system/" + out.Name})
		}
	}
	if s := cc.CoreOS.Update.RebootStrategy; s != "" {
		// Where Flatcar's update engine reads it.
		n.Files = append(n.Files, file{Path: "/etc/flatcar/update.conf", Mode: "0644", Contents: "REBOOT_STRATEGY=" + s + "\n"})
	}
	for _, f := range cc.WriteFiles {
		out, err := writeFile(f)
		if err != nil {
			return "", err
		}
		n.Files = append(n.Files, out)
	}
	slices.SortFunc(n.Files, func(a, b file) int { return strings.Compare(a.Path, b.Path) })
	bu, err := butane(n)
	if err != nil {
		return "", err
	}
	return Translate(bu)
}

// butane renders n's Butane document.
func butane(n node) (string, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, "node.bu.tmpl", n); err != nil {
		return "", fmt.Errorf("render node.bu.tmpl: %w", err)
	}
	return b.String(), nil
}

// Translate translates a Butane document to Ignition JSON in Butane's
// strict mode: a warning is an error, as `butane --strict` has it.
func Translate(bu string) (string, error) {
	out, report, err := flatcar.ToIgn3_4Bytes([]byte(bu), common.TranslateBytesOptions{})
	if err != nil {
		return "", fmt.Errorf("butane: %w\n%s", err, report)
	}
	if len(report.Entries) > 0 {
		return "", fmt.Errorf("butane (strict): %s", report)
	}
	return string(out), nil
}

// onlySections refuses any part of the cloud-config this translation does
// not carry over.
func onlySections(cc *config.CloudConfig) error {
	rest := *cc
	rest.SSHAuthorizedKeys, rest.WriteFiles, rest.CoreOS.Units = nil, nil, nil
	rest.CoreOS.Update.RebootStrategy = ""
	if !isZero(rest) {
		b, _ := json.Marshal(rest)
		return fmt.Errorf("cloud-config holds sections ignition does not render: %s", b)
	}
	return nil
}

func isZero(cc config.CloudConfig) bool {
	b, _ := json.Marshal(cc)
	z, _ := json.Marshal(config.CloudConfig{})
	return bytes.Equal(b, z)
}

// writeFile is a write_files entry as Ignition writes it: decoded, with
// its mode and owner.
func writeFile(f config.File) (file, error) {
	text, err := config.DecodeContent(f.Content, f.Encoding)
	if err != nil {
		return file{}, fmt.Errorf("write_files %s: encoding %q: %w", f.Path, f.Encoding, err)
	}
	if _, err := strconv.ParseUint(f.RawFilePermissions, 8, 32); err != nil || len(f.RawFilePermissions) != 4 {
		return file{}, fmt.Errorf("write_files %s: permissions %q: want four octal digits", f.Path, f.RawFilePermissions)
	}
	if strings.Contains(string(text), privateIPv4) {
		return file{}, fmt.Errorf("write_files %s: holds %s, which Ignition does not substitute in files", f.Path, privateIPv4)
	}
	user, group, _ := strings.Cut(f.Owner, ":")
	return file{Path: f.Path, Mode: f.RawFilePermissions, User: user, Group: group, Contents: string(text)}, nil
}

// plainUnit is a unit Ignition writes as it is, with the node's address
// taken from the metadata agent where cloud-config substituted it; enabled
// where cloud-config starts it, which Ignition does through its [Install].
func plainUnit(u config.Unit, addressVar string) (unit, error) {
	if u.Mask || u.Runtime || u.Command != "" && u.Command != "start" {
		return unit{}, fmt.Errorf("unit %s: command %q, mask %v, runtime %v: ignition enables units, nothing else", u.Name, u.Command, u.Mask, u.Runtime)
	}
	out := unit{Name: u.Name, Enabled: u.Command == "start" || u.Enable}
	if out.Enabled && !strings.Contains(u.Content, "[Install]") {
		// coreos-cloudinit starts it at every boot: so does multi-user.target
		// through a link, as `systemctl add-wants` would make it.
		out.Enabled, out.WantedBy = false, BootTarget
		if u.Enable || u.Content == "" {
			return unit{}, fmt.Errorf("unit %s: enabled, but has no [Install] section to enable it by", u.Name)
		}
	}
	content, err := withAddress(u.Name, u.Content, addressVar)
	if err != nil {
		return unit{}, err
	}
	out.Contents = content
	for _, d := range u.DropIns {
		if strings.Contains(d.Content, privateIPv4) {
			return unit{}, fmt.Errorf("unit %s drop-in %s: holds %s", u.Name, d.Name, privateIPv4)
		}
		out.DropIns = append(out.DropIns, dropIn{Name: d.Name, Contents: d.Content})
	}
	return out, nil
}

// withAddress replaces the node's address in a unit's ExecStart lines with
// the metadata agent's variable, which systemd substitutes there, and makes
// the unit read the agent's file after it has run. The address anywhere
// else is an error: systemd substitutes nothing in other lines.
func withAddress(name, content, addressVar string) (string, error) {
	if !strings.Contains(content, privateIPv4) {
		return content, nil
	}
	var b strings.Builder
	for line := range strings.Lines(content) {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.Contains(line, privateIPv4) && !strings.HasPrefix(trimmed, "ExecStart="):
			return "", fmt.Errorf("unit %s: line %q: the node's address is substituted only in ExecStart lines", name, trimmed)
		case trimmed == "[Unit]":
			line += "Requires=coreos-metadata.service\nAfter=coreos-metadata.service\n"
		case trimmed == "[Service]":
			line += "EnvironmentFile=" + MetadataEnv + "\n"
		}
		b.WriteString(strings.ReplaceAll(line, privateIPv4, "${"+addressVar+"}"))
	}
	return b.String(), nil
}

var envLine = regexp.MustCompile(`^Environment="(ETCD_[A-Z0-9_]+)=([^"]*)"$`)

// entrypoint is where the member unit's docker run names etcd's binary:
// the settings it is handed go before it.
const entrypoint = " --entrypoint="

// memberUnit is the project's etcd unit with the settings that hold the
// node's address moved from its drop-ins, where coreos-cloudinit
// substitutes $private_ipv4, to its docker command line, where systemd
// substitutes the metadata agent's variable (plainUnit puts it there).
func memberUnit(u config.Unit) (config.Unit, error) {
	if u.Content == "" {
		return u, fmt.Errorf("unit %s: want the project's own unit, not the OS's wrapper", u.Name)
	}
	var flags strings.Builder
	for i, d := range u.DropIns {
		var lines []string
		for line := range strings.Lines(d.Content) {
			env := envLine.FindStringSubmatch(strings.TrimSpace(line))
			switch {
			case !strings.Contains(line, privateIPv4):
			case env == nil:
				return u, fmt.Errorf("unit %s drop-in %s: line %q: the node's address is rendered only in Environment=\"ETCD_...\" lines", u.Name, d.Name, strings.TrimSpace(line))
			default:
				flags.WriteString(" --env=" + env[1] + "=" + env[2])
				// A comment right above the line is about it: it goes too.
				if n := len(lines); n > 0 && strings.HasPrefix(strings.TrimSpace(lines[n-1]), "#") {
					lines = lines[:n-1]
				}
				continue
			}
			lines = append(lines, line)
		}
		u.DropIns[i].Content = strings.Join(lines, "")
	}
	var b strings.Builder
	found := 0
	for line := range strings.Lines(u.Content) {
		if strings.HasPrefix(line, "ExecStart=") && strings.Count(line, entrypoint) == 1 {
			line = strings.Replace(line, entrypoint, flags.String()+entrypoint, 1)
			found++
		}
		b.WriteString(line)
	}
	if found != 1 {
		return u, fmt.Errorf("unit %s: want one ExecStart= with %s to hand etcd the node's address", u.Name, strings.TrimSpace(entrypoint))
	}
	u.Content = b.String()
	return u, nil
}
