package nodeboot

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/coreos/coreos-cloudinit/config"
)

// The lines an etcd drop-in may hold: ETCD_* environment, and ordering.
var (
	envLine      = regexp.MustCompile(`^Environment="([A-Z0-9_]+)=([^"]*)"$`)
	orderingLine = regexp.MustCompile(`^(Requires|After|Wants)=[A-Za-z0-9@._-]+$`)
	// An environment file that may be absent ("-"), as a node's own
	// scripts leave one for etcd.
	envFileLine = regexp.MustCompile(`^EnvironmentFile=-(/[A-Za-z0-9/._-]+)$`)
)

// dropIn reads a drop-in of unit into env: its ETCD_* Environment= lines,
// and into envFile the optional EnvironmentFile= it names; ordering lines
// are allowed, anything else is an error.
func dropIn(unit string, d config.UnitDropIn, env map[string]string, envFile *string) error {
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
		case section == "[Service]" && envFileLine.MatchString(line):
			*envFile = envFileLine.FindStringSubmatch(line)[1]
			continue
		}
		m := envLine.FindStringSubmatch(line)
		if section != "[Service]" || m == nil || !strings.HasPrefix(m[1], "ETCD_") {
			return fmt.Errorf("unit %s drop-in %s: line %q: the rehearsal interprets only [Unit] Requires=/After=/Wants= and [Service] Environment=\"ETCD_...=...\" and EnvironmentFile=-/path lines", unit, d.Name, line)
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

// execStart is the ExecStart value of a unit file, or "".
func execStart(content string) string {
	for line := range strings.Lines(content) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart="); ok {
			return v
		}
	}
	return ""
}
