// Package retention decides which snapshots a retention policy keeps: the
// newest of each of the last N hours, days and weeks, as restic's forget
// and Gardener's garbage collection count them.
package retention

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Policy is how many hours, days and ISO weeks keep their newest snapshot;
// the periods count back from the newest snapshot, and only periods that
// hold one count. A snapshot kept for any of them is kept.
type Policy struct {
	Hourly, Daily, Weekly int
}

// Snapshot is an object key and the UTC time its name carries.
type Snapshot struct {
	Key  string
	Time time.Time
}

// snapshotTime is the time in a snapshot's name: etcd-<YYYYMMDDThhmmssZ>.
var snapshotTime = regexp.MustCompile(`(?:^|/)etcd-([0-9]{8}T[0-9]{6}Z)\.db`)

// Parse reads the snapshots among keys; keys that name none (a sha256
// beside one, anything else) are left out.
func Parse(keys []string) []Snapshot {
	var out []Snapshot
	for _, k := range keys {
		m := snapshotTime.FindStringSubmatch(k)
		if m == nil || strings.HasSuffix(k, ".sha256") {
			continue
		}
		t, err := time.Parse("20060102T150405Z", m[1])
		if err != nil {
			continue
		}
		out = append(out, Snapshot{Key: k, Time: t})
	}
	return out
}

// Keep splits snapshots into those p keeps and those it lets go, each
// newest first.
func (p Policy) Keep(snapshots []Snapshot) (keep, drop []Snapshot) {
	sorted := slices.Clone(snapshots)
	slices.SortStableFunc(sorted, func(a, b Snapshot) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.Key, a.Key)
	})
	periods := []struct {
		left   int
		of     func(time.Time) string
		latest string
	}{
		{left: p.Hourly, of: func(t time.Time) string { return t.Format("2006-01-02T15") }},
		{left: p.Daily, of: func(t time.Time) string { return t.Format("2006-01-02") }},
		{left: p.Weekly, of: func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
	}
	for _, s := range sorted {
		kept := false
		for i := range periods {
			pd := &periods[i]
			if pd.left > 0 && pd.of(s.Time) != pd.latest {
				pd.latest, kept = pd.of(s.Time), true
				pd.left--
			}
		}
		if kept {
			keep = append(keep, s)
		} else {
			drop = append(drop, s)
		}
	}
	return keep, drop
}
