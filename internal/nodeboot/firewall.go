package nodeboot

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/coreos/coreos-cloudinit/config"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// Firewall is a node's metadata firewall: the unit that applies it at boot,
// which docker, containerd and every unit that runs a container or etcd
// require and follow, and what it runs.
type Firewall struct {
	Unit string
	// Commands are its ExecStart lines, split into words, in order.
	Commands [][]string
	// Files are the write_files its commands read (nft's ruleset).
	Files []File
}

// firewallTools are the tools a flavor's firewall unit may run: what its OS
// ships. Flatcar's iptables is a front end of nftables, so its rules are
// nft's own; Container Linux images old enough to run etcd2 may predate nft
// (2017), and have always had iptables.
var firewallTools = map[cloudconfig.Flavor][]string{
	cloudconfig.Flatcar:     {"/sbin/nft"},
	cloudconfig.CoreOSEtcd2: {"/sbin/iptables", "/sbin/ip6tables"},
}

// metadataFirewall takes out of cc the firewall unit, the drop-ins that make
// the container runtimes wait for it, and the files it reads, and returns
// it with the other units. A node without it, or with a runtime that does
// not wait for it, is an error: its containers could read the node's user
// data from the metadata service.
func metadataFirewall(cc *config.CloudConfig, flavor cloudconfig.Flavor) (Firewall, []config.Unit, error) {
	name := cloudconfig.MetadataFirewallUnit
	var rest []config.Unit
	var fw Firewall
	runtimes := map[string]bool{}
	for _, u := range cc.CoreOS.Units {
		switch {
		case u.Name == name:
			if fw.Unit != "" {
				return fw, nil, fmt.Errorf("unit %s: written twice", name)
			}
			if u.Content == "" || u.Command != "start" || !u.Enable || u.Mask || len(u.DropIns) > 0 {
				return fw, nil, fmt.Errorf("unit %s: command %q, enable %v, mask %v, %d drop-ins: the firewall must be a unit of its own, enabled (every boot) and started (this one)",
					name, u.Command, u.Enable, u.Mask, len(u.DropIns))
			}
			var err error
			if fw, err = firewallUnit(u, flavor); err != nil {
				return fw, nil, err
			}
		case slices.Contains(cloudconfig.ContainerRuntimes, u.Name):
			if u.Content != "" || u.Command != "" || u.Mask || !afterFirewall(u) {
				return fw, nil, fmt.Errorf("unit %s: the rehearsal interprets only a drop-in that makes it require %s and start after it", u.Name, name)
			}
			runtimes[u.Name] = true
		default:
			rest = append(rest, u)
		}
	}
	if fw.Unit == "" {
		return fw, nil, fmt.Errorf("no unit %s: nothing keeps containers from the metadata service, which serves this node's user data", name)
	}
	for _, r := range cloudconfig.ContainerRuntimes {
		if !runtimes[r] {
			return fw, nil, fmt.Errorf("unit %s: no drop-in makes it require %s and start after it: its containers could start before the firewall", r, name)
		}
	}
	var files []config.File
	for _, f := range cc.WriteFiles {
		if !slices.ContainsFunc(fw.Commands, func(cmd []string) bool { return slices.Contains(cmd, f.Path) }) {
			files = append(files, f)
			continue
		}
		mode, err := strconv.ParseUint(f.RawFilePermissions, 8, 32)
		if err != nil || f.Encoding != "" {
			return fw, nil, fmt.Errorf("write_files %s: permissions %q, encoding %q: the rehearsal writes plain files with octal permissions", f.Path, f.RawFilePermissions, f.Encoding)
		}
		fw.Files = append(fw.Files, File{Path: f.Path, Mode: os.FileMode(mode), Owner: f.Owner, Content: f.Content})
	}
	cc.WriteFiles = files
	for _, cmd := range fw.Commands {
		for i, a := range cmd {
			if cmd[0] == "/sbin/nft" && i > 0 && cmd[i-1] == "-f" && !slices.ContainsFunc(fw.Files, func(f File) bool { return f.Path == a }) {
				return fw, nil, fmt.Errorf("unit %s: nft loads %s, which write_files does not write", name, a)
			}
		}
	}
	return fw, rest, nil
}

// firewallUnit reads the firewall unit: a oneshot that stays active and runs
// only the flavor's firewall tools.
func firewallUnit(u config.Unit, flavor cloudconfig.Flavor) (Firewall, error) {
	lines, err := parseUnit(u.Name, u.Content, map[string][]string{
		"Unit":    {"Description", "RefuseManualStop", "Before", "Wants"},
		"Service": {"Type", "RemainAfterExit", "ExecStart"},
		"Install": {"WantedBy"},
	})
	if err != nil {
		return Firewall{}, err
	}
	fw := Firewall{Unit: u.Name}
	seen := map[string]string{}
	for _, l := range lines {
		seen[l.key] = l.value
		if l.key != "ExecStart" {
			continue
		}
		words := strings.Fields(l.value)
		if len(words) == 0 || !slices.Contains(firewallTools[flavor], words[0]) {
			return Firewall{}, fmt.Errorf("unit %s: line %q: a %s node's firewall runs %v", u.Name, l.line, flavor, firewallTools[flavor])
		}
		fw.Commands = append(fw.Commands, words)
	}
	switch {
	case seen["Type"] != "oneshot" || seen["RemainAfterExit"] != "yes":
		return Firewall{}, fmt.Errorf("unit %s: Type=%s, RemainAfterExit=%s: the firewall must be a oneshot that stays active, so that what requires it starts once it is in place", u.Name, seen["Type"], seen["RemainAfterExit"])
	case seen["WantedBy"] != "multi-user.target":
		return Firewall{}, fmt.Errorf("unit %s: WantedBy=%s: enabled, it must be wanted by multi-user.target to run at every boot", u.Name, seen["WantedBy"])
	case len(fw.Commands) == 0:
		return Firewall{}, fmt.Errorf("unit %s: no ExecStart: it installs nothing", u.Name)
	}
	return fw, nil
}

// afterFirewall reports whether u, by its own [Unit] section or a drop-in's,
// requires the metadata firewall and starts after it.
func afterFirewall(u config.Unit) bool {
	requires, after := false, false
	texts := []string{u.Content}
	for _, d := range u.DropIns {
		texts = append(texts, d.Content)
	}
	for _, text := range texts {
		section := ""
		for line := range strings.Lines(text) {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "[") {
				section = line
				continue
			}
			key, value, ok := strings.Cut(line, "=")
			if !ok || section != "[Unit]" || !slices.Contains(strings.Fields(value), cloudconfig.MetadataFirewallUnit) {
				continue
			}
			requires = requires || key == "Requires"
			after = after || key == "After"
		}
	}
	return requires && after
}

// checkAfterFirewall fails unless every unit of names (etcd's, and the
// node's script units, which run containers) requires the firewall and
// starts after it. fleet.service needs no such line: the containers it
// schedules are docker's.
func checkAfterFirewall(units []config.Unit, names []string) error {
	for _, name := range names {
		i := slices.IndexFunc(units, func(u config.Unit) bool { return u.Name == name })
		if i < 0 {
			return fmt.Errorf("unit %s: not in the user data", name)
		}
		if !afterFirewall(units[i]) {
			return fmt.Errorf("unit %s: does not require %s and start after it: it could start before the node's metadata firewall is in place", name, cloudconfig.MetadataFirewallUnit)
		}
	}
	return nil
}
