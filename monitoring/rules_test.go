// Package monitoring holds the Prometheus alerting rules operators load; it
// is a module of its own so that Prometheus's packages, which its tests use
// to check the rules, never enter the program's build.
package monitoring

import (
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

var update = flag.Bool("update", false, "rewrite metric-names.txt from the rules")

const rulesFile, namesFile = "etcd-alerts.yaml", "metric-names.txt"

// TestRulesParse: Prometheus's own rule parser takes the rules file without
// an error, and it holds the alerts the operators' docs describe.
func TestRulesParse(t *testing.T) {
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, parser.NewParser(parser.Options{}), nil)
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		return
	}
	docs, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if !strings.Contains(string(docs), "### "+r.Alert+"\n") {
				t.Errorf("alert %s: docs/operations.md has no section ### %s", r.Alert, r.Alert)
			}
		}
	}
	want := []string{"EtcdMemberDown", "EtcdNoLeader", "EtcdFrequentLeaderChanges", "EtcdSlowWALFsync", "EtcdSlowBackendCommit",
		"EtcdDatabaseNearQuota", "EtcdNoSpace", "EtcdCertificateExpiresSoon", "EtcdBackupTooOld", "EtcdBackupVerifyFailed"}
	if !slices.Equal(alerts, want) {
		t.Errorf("alerts %v, want %v", alerts, want)
	}
}

// TestParserCatchesMistakes keeps TestRulesParse honest: the same file with
// one expression broken is refused.
func TestParserCatchesMistakes(t *testing.T) {
	text, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	for name, broken := range map[string]string{
		"expression":  strings.Replace(string(text), "== 0", "== == 0", 1),
		"template":    strings.Replace(string(text), "{{ $labels.instance }}", "{{ $labels.instance", 1),
		"unknown key": strings.Replace(string(text), "        for: 3m", "        for: 3m\n        fro: 3m", 1),
	} {
		if broken == string(text) {
			t.Fatalf("%s: the edit changes nothing", name)
		}
		if _, errs := rulefmt.Parse([]byte(broken), false, model.UTF8Validation, parser.NewParser(parser.Options{}), nil); len(errs) == 0 {
			t.Errorf("%s broken: no error", name)
		}
	}
}

// TestMetricNames: metric-names.txt lists every metric the rules read, for
// the rehearsal to look for in what real members of each pinned etcd line
// expose (line 9a).
func TestMetricNames(t *testing.T) {
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, parser.NewParser(parser.Options{}), nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var names []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("%s: %v", r.Alert, err)
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok && !slices.Contains(names, vs.Name) {
					names = append(names, vs.Name)
				}
				return nil
			})
		}
	}
	slices.Sort(names)
	got := strings.Join(names, "\n") + "\n"
	if *update {
		if err := os.WriteFile(namesFile, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(namesFile)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s is not what the rules read (go test -update rewrites it):\n%s", namesFile, got)
	}
}

// TestBackupMetricsWrittenByNodes: every backup metric the rules read is
// one the central nodes' backup script writes (its golden, where the
// script prints isolatedetcd_backup_<name>); the rehearsal's line 7e reads
// them from what the script wrote on a node.
func TestBackupMetricsWrittenByNodes(t *testing.T) {
	script, err := os.ReadFile("../components/cloudconfig/testdata/backup.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "'isolatedetcd_backup_%s{") {
		t.Fatalf("the backup script no longer prints isolatedetcd_backup_<name>:\n%s", script)
	}
	names, err := os.ReadFile(namesFile)
	if err != nil {
		t.Fatal(err)
	}
	var backup int
	for _, name := range strings.Fields(string(names)) {
		suffix, ok := strings.CutPrefix(name, "isolatedetcd_backup_")
		if !ok {
			continue
		}
		backup++
		if !regexp.MustCompile(`[ (]` + suffix + ` `).Match(script) {
			t.Errorf("the rules read %s, which the backup script does not write", name)
		}
	}
	if backup == 0 {
		t.Error("the rules read no backup metric")
	}
}
