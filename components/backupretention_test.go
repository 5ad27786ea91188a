package components_test

import (
	"testing"

	"github.com/isolatedetcd/cluster/components"
)

// TestBackupRetentionPolicy: backupKeep* are the retention policy; output
// backupRetentionCommand applies it to the cluster's listing, and the
// lifecycle rule must keep snapshots as long as it does. Each bad value is
// refused before anything is registered.
func TestBackupRetentionPolicy(t *testing.T) {
	for _, tc := range []struct {
		name string
		args components.ClusterArgs
		want []string
	}{
		{"negative", components.ClusterArgs{BackupKeepDaily: -1}, []string{"backupKeepDaily: -1 is not allowed; want 0 to 3650"}},
		{"too many weeks", components.ClusterArgs{BackupKeepWeekly: 521, BackupRetentionDays: 3650}, []string{"backupKeepWeekly: 521 is not allowed; want 0 to 520"}},
		{"lifecycle shorter than the weeks", components.ClusterArgs{BackupKeepHourly: 24, BackupKeepDaily: 7, BackupKeepWeekly: 13}, []string{
			"backupRetentionDays: 30 expires every snapshot after 30 days, and backupKeepHourly 24, backupKeepDaily 7, backupKeepWeekly 13 keep some for 91; set backupRetentionDays to at least 91"}},
		{"backups off", components.ClusterArgs{Backup: boolp(false), BackupKeepHourly: 24}, []string{"backupKeepHourly, backupKeepDaily, backupKeepWeekly: 24, 0, 0 thin the backups, and backups are off"}},
	} {
		tc.args.CentralCount = 3
		t.Run(tc.name, func(t *testing.T) { refused(t, tc.args, tc.want...) })
	}
	_, out := mustProvision(t, components.ClusterArgs{CentralCount: 3, BackupKeepHourly: 24, BackupKeepDaily: 7, BackupKeepWeekly: 13, BackupRetentionDays: 92})
	if got, want := out.values["backupRetentionCommand"], "aws s3 ls s3://etcd-dev-backups/etcd-dev/ --recursive --region us-east-2 | sort | go run ./cmd/backup-retention --hourly 24 --daily 7 --weekly 13"; got != want {
		t.Errorf("backupRetentionCommand %q, want %q", got, want)
	}
	if _, out := mustProvision(t, components.ClusterArgs{CentralCount: 3}); out.values["backupRetentionCommand"] != "" {
		t.Errorf("no policy, and backupRetentionCommand %q", out.values["backupRetentionCommand"])
	}
}
