package retention_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/isolatedetcd/cluster/components/retention"
)

// hourly are snapshots of members taking turns every hour for days, as
// keys the store lists, oldest first, beginning at start.
func hourly(start time.Time, hours int) []string {
	var keys []string
	for h := range hours {
		t := start.Add(time.Duration(h) * time.Hour)
		keys = append(keys, fmt.Sprintf("etcd-prod/etcd-prod-central-%d/etcd-%s.db.gz.age", h%3, t.Format("20060102T150405Z")))
	}
	return keys
}

func times(s []retention.Snapshot) []string {
	var out []string
	for _, x := range s {
		out = append(out, x.Time.Format("2006-01-02T15:04"))
	}
	return out
}

// TestKeep: the newest of each of the last N hours, days and ISO weeks
// that hold a snapshot, newest first; a snapshot kept for two reasons is
// kept once; gaps do not count; nothing else is kept.
func TestKeep(t *testing.T) {
	// Monday 2026-11-02 00:05 UTC, hourly for 100 days.
	start := time.Date(2026, 11, 2, 0, 5, 0, 0, time.UTC)
	all := retention.Parse(hourly(start, 100*24))
	newest := start.Add((100*24 - 1) * time.Hour) // Tuesday 2027-02-09 23:05
	for _, tc := range []struct {
		name      string
		policy    retention.Policy
		snapshots []retention.Snapshot
		want      []string
	}{
		{"nothing kept", retention.Policy{}, all, nil},
		{"3 hourly", retention.Policy{Hourly: 3}, all, []string{"2027-02-09T23:05", "2027-02-09T22:05", "2027-02-09T21:05"}},
		{"3 daily: each day's newest", retention.Policy{Daily: 3}, all, []string{"2027-02-09T23:05", "2027-02-08T23:05", "2027-02-07T23:05"}},
		// ISO weeks start on Monday: the newest of the week before Monday
		// 2027-02-08 is Sunday's last.
		{"3 weekly", retention.Policy{Weekly: 3}, all, []string{"2027-02-09T23:05", "2027-02-07T23:05", "2027-01-31T23:05"}},
		{"overlapping: kept once", retention.Policy{Hourly: 2, Daily: 2, Weekly: 2}, all,
			[]string{"2027-02-09T23:05", "2027-02-09T22:05", "2027-02-08T23:05", "2027-02-07T23:05"}},
		{"the issue's policy: 24 h, a week of days, a quarter of weeks", retention.Policy{Hourly: 24, Daily: 7, Weekly: 13}, all, nil},
		// A gap of three days (no backups) does not use up daily slots.
		{"gaps do not count", retention.Policy{Daily: 3}, slices.DeleteFunc(slices.Clone(all), func(s retention.Snapshot) bool {
			return !s.Time.Before(time.Date(2027, 2, 6, 0, 0, 0, 0, time.UTC)) && s.Time.Before(time.Date(2027, 2, 9, 0, 0, 0, 0, time.UTC))
		}), []string{"2027-02-09T23:05", "2027-02-05T23:05", "2027-02-04T23:05"}},
		{"fewer snapshots than slots", retention.Policy{Hourly: 24}, all[:2], []string{"2026-11-02T01:05", "2026-11-02T00:05"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep, drop := tc.policy.Keep(tc.snapshots)
			if len(keep)+len(drop) != len(tc.snapshots) {
				t.Fatalf("%d kept + %d dropped of %d", len(keep), len(drop), len(tc.snapshots))
			}
			if tc.want != nil && !slices.Equal(times(keep), tc.want) {
				t.Errorf("kept %v, want %v", times(keep), tc.want)
			}
			if tc.name == "the issue's policy: 24 h, a week of days, a quarter of weeks" {
				// 24 hours (the newest day among them), 6 more days, and
				// 13 weeks of which the newest two are days already kept.
				if len(keep) != 24+6+11 {
					t.Errorf("kept %d: %v", len(keep), times(keep))
				}
				oldest := keep[len(keep)-1].Time
				// The 13th week back from the newest's, at its end.
				if newest.Sub(oldest) < 11*7*24*time.Hour || newest.Sub(oldest) > 13*7*24*time.Hour {
					t.Errorf("the oldest kept is %v, %v before the newest: want about a quarter", oldest, newest.Sub(oldest))
				}
			}
			for i := 1; i < len(keep); i++ {
				if !keep[i].Time.Before(keep[i-1].Time) {
					t.Fatalf("kept not newest first: %v", times(keep))
				}
			}
		})
	}
}

// TestParse: only snapshots count, sealed or plain; the sha256 beside one
// and anything else in the prefix do not.
func TestParse(t *testing.T) {
	got := retention.Parse([]string{
		"etcd-prod/etcd-prod-central-0/etcd-20261130T100000Z.db.gz.age",
		"etcd-prod/etcd-prod-central-0/etcd-20261130T100000Z.db.gz.age.sha256",
		"etcd-prod/etcd-prod-central-1/etcd-20261130T090000Z.db",
		"etcd-prod/notes.txt",
		"etcd-prod/etcd-prod-central-1/etcd-2026113T090000Z.db",
	})
	if len(got) != 2 || got[0].Time != time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC) || got[1].Key != "etcd-prod/etcd-prod-central-1/etcd-20261130T090000Z.db" {
		t.Errorf("parsed %+v", got)
	}
}
