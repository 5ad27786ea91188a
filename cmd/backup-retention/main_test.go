package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRun: from the AWS CLI's listing, the keys the policy lets go, with
// the sha256 beside each; usage errors exit 2.
func TestRun(t *testing.T) {
	listing := `2026-11-30 10:00:03      13393 etcd-dev/etcd-dev-central-0/etcd-20261130T100000Z.db.gz.age
2026-11-30 10:00:04         90 etcd-dev/etcd-dev-central-0/etcd-20261130T100000Z.db.gz.age.sha256
2026-11-30 11:00:03      13401 etcd-dev/etcd-dev-central-1/etcd-20261130T110000Z.db.gz.age
2026-11-30 11:00:04         90 etcd-dev/etcd-dev-central-1/etcd-20261130T110000Z.db.gz.age.sha256
2026-11-29 09:00:01      52001 etcd-dev/etcd-dev-central-2/etcd-20261129T090000Z.db
`
	for _, tc := range []struct {
		name   string
		args   []string
		status int
		out    string
	}{
		{"one hour", []string{"--hourly", "1", "--daily", "0", "--weekly", "0"}, 0,
			"etcd-dev/etcd-dev-central-0/etcd-20261130T100000Z.db.gz.age\netcd-dev/etcd-dev-central-0/etcd-20261130T100000Z.db.gz.age.sha256\netcd-dev/etcd-dev-central-2/etcd-20261129T090000Z.db\n"},
		{"a day each", []string{"--hourly", "0", "--daily", "2", "--weekly", "0"}, 0,
			"etcd-dev/etcd-dev-central-0/etcd-20261130T100000Z.db.gz.age\netcd-dev/etcd-dev-central-0/etcd-20261130T100000Z.db.gz.age.sha256\n"},
		{"the defaults keep all", nil, 0, ""},
		{"nothing to keep", []string{"--hourly", "0", "--daily", "0", "--weekly", "0"}, 2, ""},
		{"negative", []string{"--daily", "-1"}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := run(tc.args, strings.NewReader(listing), &out, &errOut); got != tc.status || out.String() != tc.out {
				t.Errorf("status %d, out:\n%s\nwant %d:\n%s\nstderr: %s", got, out.String(), tc.status, tc.out, errOut.String())
			}
		})
	}
}
