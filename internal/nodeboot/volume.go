package nodeboot

import (
	"fmt"
	"slices"
	"strings"

	"github.com/coreos/coreos-cloudinit/config"
)

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
