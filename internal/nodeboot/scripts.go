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
			sc := Script{Unit: u.Name, ByOperator: u.Name == cloudconfig.Leave.Unit && u.Command == ""}
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
		if !sc.BeforeEtcd && !sc.AfterEtcd && sc.Schedule == "" && !sc.ByOperator {
			return nil, nil, fmt.Errorf("unit %s: runs %s, but neither etcd's start nor a timer starts it", sc.Unit, sc.Path)
		}
	}
	return rest, out, nil
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
