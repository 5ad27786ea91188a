package rehearsal

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestShortReportFits: every line of the default report fits reportWidth
// columns whatever the evidence, and still says which proof and its result;
// --verbose keeps the whole claim and evidence.
func TestShortReportFits(t *testing.T) {
	claims := []claim{claimBoot, claimMembers, claimKnownSettings, claimNoWorker, claimWorkerAPI, claimCrossRead, claimStopCentral, claimRestart,
		claimStopDiscovery, claimStopWorker, claimWrongSize, claimUsedToken, claimReplace, claimReplaceOldToken, claimMetrics, claimDefrag, claimNoSpace, claimChurn, claimDefragLoud}
	rep := &Report{Stack: "prod-eu", Cluster: "etcd-prod-eu", Flavor: "flatcar", Etcd: "v3.6.16", Bootstrap: "discovery", WorkerProxy: "gateway", Central: 7, Workers: 1000}
	long := strings.Repeat("evidence that runs on and on ", 20)
	for _, c := range claims {
		rep.add(c.line().pass("%s", long))
	}
	var short, verbose strings.Builder
	if err := rep.WriteTable(&short, false); err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(short.String()) {
		if n := utf8.RuneCountInString(strings.TrimRight(line, "\n")); n > reportWidth {
			t.Errorf("%d columns: %q", n, line)
		}
	}
	if err := rep.WriteTable(&verbose, true); err != nil {
		t.Fatal(err)
	}
	for _, c := range claims {
		if !strings.Contains(short.String(), c.id+"  ") || !strings.Contains(short.String(), "PASS  "+c.title) {
			t.Errorf("short report lacks line %s (%s)", c.id, c.title)
		}
		if !strings.Contains(verbose.String(), c.text) {
			t.Errorf("verbose report lacks the claim %q", c.text)
		}
	}
	if !strings.Contains(verbose.String(), long) {
		t.Error("verbose report cuts the evidence")
	}
}
