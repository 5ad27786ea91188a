package components

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"filippo.io/age"
	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components/backupkey"
	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// Backup defaults and bounds.
const (
	DefaultBackupSchedule      = "hourly"
	DefaultBackupRetentionDays = 30
	MaxBackupRetentionDays     = 3650
	// MaxBackupRevisionThreshold bounds backupRevisionThreshold: etcd's
	// revision is an int64, but past a billion writes the schedule comes
	// first on any cluster.
	MaxBackupRevisionThreshold = 1000000000
	// RestoreLatest, as restoreFrom, restores the newest snapshot any member
	// uploaded, chosen once by the program so that every member restores
	// the same one.
	RestoreLatest = "latest"
)

var (
	// backupSchedule is a systemd calendar word or an OnCalendar expression:
	// [weekdays] [date] hour:minute[:second].
	backupSchedule = regexp.MustCompile(`^(hourly|daily|weekly|monthly|quarterly|semiannually|yearly|annually|` +
		`((Mon|Tue|Wed|Thu|Fri|Sat|Sun)([.,]{1,2}(Mon|Tue|Wed|Thu|Fri|Sat|Sun))* )?` +
		`([0-9*][0-9*/,.~]*-[0-9*][0-9*/,.~]*-[0-9*][0-9*/,.~]* )?[0-9*][0-9*/,.]*:[0-9*][0-9*/,.]*(:[0-9*][0-9*/,.]*)?)$`)
	// snapshotKey is a snapshot's object key: prefix/member/etcd-<UTC
	// time>.db.gz.age, compressed and encrypted, or .db, as nodes uploaded
	// before encryption.
	snapshotKey = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/etcd-([0-9]{8}T[0-9]{6}Z)\.db(\.gz\.age)?$`)
)

// chooseBackup applies the backup defaults and checks the backup and
// restore settings: backups are on by default wherever they can run.
func (s *settings) chooseBackup() error {
	var errs []error
	s.backup = s.Flavor != string(cloudconfig.CoreOSEtcd2)
	if s.Backup != nil {
		s.backup = *s.Backup
	}
	s.BackupSchedule = strings.TrimSpace(s.BackupSchedule)
	if s.BackupSchedule == "" {
		s.BackupSchedule = DefaultBackupSchedule
	}
	if s.backup && s.Flavor == string(cloudconfig.CoreOSEtcd2) {
		errs = append(errs, fmt.Errorf("backup: true is not available with flavor coreos-etcd2, the seed's etcd2 cloud-config, whose members have no etcd v3 snapshot; unset backup, or use flavor flatcar"))
	}
	if !backupSchedule.MatchString(s.BackupSchedule) {
		errs = append(errs, fmt.Errorf("backupSchedule: %q is not allowed; want a systemd calendar word (hourly, daily, weekly) or an OnCalendar expression such as \"*-*-* 00/6:00:00\" (every six hours)", s.BackupSchedule))
	}
	switch {
	case s.BackupRetentionDays == 0:
		s.BackupRetentionDays = DefaultBackupRetentionDays
	case s.BackupBucket != "":
		errs = append(errs, fmt.Errorf("backupRetentionDays: %d applies to the bucket the program creates; backupBucket %q is yours, so its own lifecycle rules keep snapshots; unset backupRetentionDays", s.BackupRetentionDays, s.BackupBucket))
	case s.BackupRetentionDays < 1 || s.BackupRetentionDays > MaxBackupRetentionDays:
		errs = append(errs, fmt.Errorf("backupRetentionDays: %d is not allowed; want 1 to %d days (default %d)", s.BackupRetentionDays, MaxBackupRetentionDays, DefaultBackupRetentionDays))
	}
	if s.RestoreFrom != "" {
		switch {
		case !s.backup:
			errs = append(errs, fmt.Errorf("restoreFrom: %q restores from the backup bucket, and backups are off; set backup: true (and backupBucket, if the snapshots are in a bucket of yours)", s.RestoreFrom))
		case s.Bootstrap != BootstrapStatic:
			errs = append(errs, fmt.Errorf("restoreFrom: %q needs bootstrap static: a restored member is given the whole initial cluster, known only then; set bootstrap static", s.RestoreFrom))
		case s.RestoreFrom != RestoreLatest && !snapshotKey.MatchString(s.RestoreFrom):
			errs = append(errs, fmt.Errorf("restoreFrom: %q is not a snapshot; want %s, or an object key as the backup list shows it: <prefix>/<member>/etcd-<YYYYMMDDThhmmssZ>.db.gz.age (or .db, as taken before encryption)", s.RestoreFrom, RestoreLatest))
		case s.RestoreFrom != RestoreLatest && !strings.HasPrefix(s.RestoreFrom, s.backupPrefix()+"/"):
			errs = append(errs, s.foreignSnapshot())
		case cloudconfig.Sealed(s.RestoreFrom) && s.BackupIdentity == "":
			errs = append(errs, fmt.Errorf("restoreFrom: %q is encrypted, and backupIdentity is not set; set it, as a secret, to the backupIdentity output of the stack that took it: pulumi config set --secret backupIdentity \"$(pulumi stack output --show-secrets backupIdentity)\"", s.RestoreFrom))
		}
	}
	if s.BackupCopyRegion != "" {
		switch {
		case !s.backup:
			errs = append(errs, fmt.Errorf("backupCopyRegion: %q is where a second copy of the backups goes, and backups are off; set backup: true, or unset backupCopyRegion", s.BackupCopyRegion))
		case s.BackupBucket != "":
			errs = append(errs, fmt.Errorf("backupCopyRegion: %q makes a second bucket like the one the program creates, and backupBucket %q is yours; replicate your bucket with its own rules and unset backupCopyRegion, or unset backupBucket", s.BackupCopyRegion, s.BackupBucket))
		}
	}
	switch {
	case s.BackupRevisionThreshold < 0 || s.BackupRevisionThreshold > MaxBackupRevisionThreshold:
		errs = append(errs, fmt.Errorf("backupRevisionThreshold: %d is not allowed; want 0 (no snapshot but the schedule's) or up to %d revisions", s.BackupRevisionThreshold, MaxBackupRevisionThreshold))
	case s.BackupRevisionThreshold > 0 && !s.backup:
		errs = append(errs, fmt.Errorf("backupRevisionThreshold: %d starts a snapshot when the revision moves, and backups are off; set backup: true, or unset backupRevisionThreshold", s.BackupRevisionThreshold))
	}
	errs = append(errs, s.checkKeep()...)
	if s.RestoreFromCopy {
		switch {
		case s.RestoreFrom == "":
			errs = append(errs, fmt.Errorf("restoreFromCopy: true restores restoreFrom from the second copy, and restoreFrom is unset; set restoreFrom (%s, or a key of the copy's listing), or unset restoreFromCopy", RestoreLatest))
		case s.BackupCopyRegion == "":
			errs = append(errs, fmt.Errorf("restoreFromCopy: true restores from the second copy, in backupCopyRegion, which is unset; set backupCopyRegion to the copy's region, or unset restoreFromCopy to restore from the first bucket"))
		}
	}
	if s.BackupIdentity != "" {
		if _, err := age.ParseX25519Identity(s.BackupIdentity); err != nil {
			// Not the value: it is a secret.
			errs = append(errs, fmt.Errorf("backupIdentity: not an age identity (%v); want AGE-SECRET-KEY-1..., as the backupIdentity output of the stack that took the snapshot shows it", err))
		}
	}
	return errors.Join(errs...)
}

// Bounds of the retention policy's counts: ten years of each.
const MaxBackupKeepHourly, MaxBackupKeepDaily, MaxBackupKeepWeekly = 87600, 3650, 520

// checkKeep checks the retention policy: counts in bounds, with backups
// on, and a lifecycle rule that keeps snapshots as long as the weekly and
// daily counts need (it expires every snapshot regardless).
func (s *settings) checkKeep() []error {
	var errs []error
	for _, k := range []struct {
		key    string
		n, max int
	}{{"backupKeepHourly", s.BackupKeepHourly, MaxBackupKeepHourly}, {"backupKeepDaily", s.BackupKeepDaily, MaxBackupKeepDaily}, {"backupKeepWeekly", s.BackupKeepWeekly, MaxBackupKeepWeekly}} {
		if k.n < 0 || k.n > k.max {
			errs = append(errs, fmt.Errorf("%s: %d is not allowed; want 0 to %d (all three 0: no thinning, the lifecycle rule's expiry only)", k.key, k.n, k.max))
		}
	}
	if errs != nil || !s.keepsPolicy() {
		return errs
	}
	if !s.backup {
		return []error{fmt.Errorf("backupKeepHourly, backupKeepDaily, backupKeepWeekly: %d, %d, %d thin the backups, and backups are off; set backup: true, or unset them", s.BackupKeepHourly, s.BackupKeepDaily, s.BackupKeepWeekly)}
	}
	if need := max((s.BackupKeepHourly+23)/24, s.BackupKeepDaily, 7*s.BackupKeepWeekly); s.BackupBucket == "" && s.BackupRetentionDays < need {
		return []error{fmt.Errorf("backupRetentionDays: %d expires every snapshot after %d days, and backupKeepHourly %d, backupKeepDaily %d, backupKeepWeekly %d keep some for %d; set backupRetentionDays to at least %d, or keep fewer",
			s.BackupRetentionDays, s.BackupRetentionDays, s.BackupKeepHourly, s.BackupKeepDaily, s.BackupKeepWeekly, need, need)}
	}
	return nil
}

// keepsPolicy reports whether the stack sets a retention policy.
func (s *settings) keepsPolicy() bool {
	return s.BackupKeepHourly+s.BackupKeepDaily+s.BackupKeepWeekly > 0
}

// backupRetentionCommand lists the cluster's snapshots and prints those
// the retention policy lets go, for the operator to delete; empty without
// a policy.
func (s *settings) backupRetentionCommand(list pulumi.StringOutput) pulumi.StringOutput {
	if !s.backup || !s.keepsPolicy() {
		return pulumi.String("").ToStringOutput()
	}
	return list.ApplyT(func(list string) string {
		return fmt.Sprintf("%s | go run ./cmd/backup-retention --hourly %d --daily %d --weekly %d", list, s.BackupKeepHourly, s.BackupKeepDaily, s.BackupKeepWeekly)
	}).(pulumi.StringOutput)
}

// backupPrefix is the cluster's folder in the bucket: its name, so that
// clusters may share a bucket.
func (s *settings) backupPrefix() string { return s.name }

// foreignSnapshot refuses a restoreFrom below another cluster's prefix,
// which would fail at boot: central nodes may read only below their own
// (the AWS role's one grant; DigitalOcean keeps the same rule, so that a
// restore behaves alike on both clouds). The message gives the one copy
// that makes it this cluster's snapshot, keeping its member folder and time.
func (s *settings) foreignSnapshot() error {
	bucket := s.BackupBucket
	if bucket == "" {
		bucket = "$(pulumi stack output backupBucket)"
	}
	other, rest, _ := strings.Cut(s.RestoreFrom, "/")
	copied := s.backupPrefix() + "/" + rest
	return fmt.Errorf("restoreFrom: %q is below %s/, another cluster's prefix; the central nodes of %s may read only below %s/, so they could not download it. "+
		"Copy it there and restore the copy: aws s3 cp s3://%s/%s s3://%s/%s (with the --region and --endpoint-url of output backupListCommand), then set restoreFrom to %q (docs/backups.md)",
		s.RestoreFrom, other, s.name, s.backupPrefix(), bucket, s.RestoreFrom, bucket, copied, copied)
}

// cloudBackup is what the backend is asked for: nil with backups off.
func (s *settings) cloudBackup(region string) *cloud.Backup {
	if !s.backup {
		return nil
	}
	b := &cloud.Backup{Bucket: s.BackupBucket, Prefix: s.backupPrefix(), Region: region, CopyRegion: s.BackupCopyRegion}
	if s.BackupBucket == "" {
		b.RetentionDays = s.BackupRetentionDays
	}
	return b
}

// backupTarget is what central nodes need of the store once it resolves:
// the bucket, a key where the machine has no role, and the snapshot to
// restore ("" for none).
type backupTarget struct {
	bucket, accessKeyID, secretAccessKey, restore string
	// copyBucket is the second bucket, "" without one; restoreBucket the
	// one restore is in.
	copyBucket, restoreBucket string
	// recipient encrypts every snapshot; identity decrypts restore.
	recipient, identity string
}

// backupKey is the age key pair of the cluster's snapshots: the recipient
// goes into central nodes' user data, the identity only into the stack's
// outputs, a secret.
type backupKey struct {
	identity, recipient pulumi.StringOutput
}

// newBackupKey registers the private key the cluster's age identity is
// derived from (backupkey.Derive): stable across updates, a secret in the
// stack's state, protected with the central nodes.
func (s *settings) newBackupKey(ctx *pulumi.Context, parent pulumi.Resource) error {
	if !s.backup {
		return nil
	}
	key, err := tls.NewPrivateKey(ctx, s.name+"-backup-key", &tls.PrivateKeyArgs{Algorithm: pulumi.String("ECDSA"), EcdsaCurve: pulumi.String("P256")},
		pulumi.Parent(parent), pulumi.Protect(s.ProtectCentral))
	if err != nil {
		return err
	}
	pair := key.PrivateKeyPem.ApplyT(func(pem string) ([]string, error) {
		identity, recipient, err := backupkey.Derive(pem)
		return []string{identity, recipient}, err
	}).(pulumi.StringArrayOutput)
	s.backupKey = &backupKey{
		identity:  pulumi.ToSecret(pair.Index(pulumi.Int(0))).(pulumi.StringOutput),
		recipient: pulumi.Unsecret(pair.Index(pulumi.Int(1))).(pulumi.StringOutput),
	}
	return nil
}

// resolveBackup waits for the store's outputs and, with restoreFrom, picks
// the snapshot every member restores: a restore of a snapshot that is not
// there fails the deploy here, before any member boots to find out.
func (s *settings) resolveBackup(store *cloud.Store) pulumi.Output {
	if store == nil {
		return pulumi.ToOutput(backupTarget{})
	}
	from, copyBucket := store, pulumi.String("").ToStringOutput()
	if store.Copy != nil {
		copyBucket = store.Copy.Bucket
		if s.RestoreFromCopy {
			from = store.Copy
		}
	}
	keys := pulumi.ToStringArray(nil).ToStringArrayOutput()
	if s.RestoreFrom == RestoreLatest {
		keys = from.Keys(s.backupPrefix() + "/")
	} else if s.RestoreFrom != "" {
		keys = from.Keys(path.Dir(s.RestoreFrom) + "/")
	}
	target := pulumi.All(store.Bucket, store.AccessKeyID, store.SecretAccessKey, keys, s.backupKey.recipient, copyBucket, from.Bucket).ApplyT(func(v []any) (backupTarget, error) {
		t := backupTarget{bucket: v[0].(string), accessKeyID: v[1].(string), secretAccessKey: v[2].(string), recipient: v[4].(string),
			copyBucket: v[5].(string), restoreBucket: v[6].(string)}
		restore, err := s.pickSnapshot(t.restoreBucket, v[3].([]string))
		t.restore = restore
		if cloudconfig.Sealed(restore) {
			if s.BackupIdentity == "" {
				return t, fmt.Errorf("restoreFrom: %q picks %s, which is encrypted, and backupIdentity is not set; set it, as a secret, to the backupIdentity output of the stack that took it: pulumi config set --secret backupIdentity \"$(pulumi stack output --show-secrets backupIdentity)\"", s.RestoreFrom, restore)
			}
			t.identity = s.BackupIdentity
		}
		return t, err
	})
	if s.BackupIdentity != "" {
		// The user data that carries it is a secret too.
		return pulumi.ToSecret(target)
	}
	return target
}

// pickSnapshot is the key restoreFrom names among keys, or the newest
// snapshot among them for latest.
func (s *settings) pickSnapshot(bucket string, keys []string) (string, error) {
	switch s.RestoreFrom {
	case "":
		return "", nil
	case RestoreLatest:
		var newest, at string
		for _, k := range keys {
			m := snapshotKey.FindStringSubmatch(k)
			if m != nil && strings.HasPrefix(k, s.backupPrefix()+"/") && (m[2] > at || m[2] == at && k > newest) {
				newest, at = k, m[2]
			}
		}
		if newest == "" {
			return "", fmt.Errorf("restoreFrom: %q, but bucket %s holds no snapshot below %s/; copy one of another cluster's there (docs/backups.md), or unset restoreFrom to start an empty cluster", RestoreLatest, bucket, s.backupPrefix())
		}
		return newest, nil
	}
	if !slices.Contains(keys, s.RestoreFrom) {
		return "", fmt.Errorf("restoreFrom: %q is not in bucket %s; want a key the backup list shows (output backupListCommand), or %s", s.RestoreFrom, bucket, RestoreLatest)
	}
	return s.RestoreFrom, nil
}

// nodeBackup is a central node's backup settings, nil with backups off.
func (s *settings) nodeBackup(store *cloud.Store, t backupTarget) *cloudconfig.Backup {
	if store == nil {
		return nil
	}
	b := &cloudconfig.Backup{
		Schedule:          s.BackupSchedule,
		Path:              t.bucket + "/" + s.backupPrefix(),
		Recipient:         t.recipient,
		Store:             t.objectStore(store),
		RevisionThreshold: s.BackupRevisionThreshold,
	}
	if store.Copy != nil {
		b.Copy = &cloudconfig.BackupCopy{Path: t.copyBucket + "/" + s.backupPrefix(), Store: t.objectStore(store.Copy)}
	}
	return b
}

// objectStore is store as the uploader reaches it, with t's key.
func (t backupTarget) objectStore(store *cloud.Store) cloudconfig.ObjectStore {
	return cloudconfig.ObjectStore{
		Provider:        store.Provider,
		Region:          store.Region,
		Endpoint:        store.Endpoint,
		AccessKeyID:     t.accessKeyID,
		SecretAccessKey: t.secretAccessKey,
	}
}

// backupCopyBucket is the second bucket, empty without one.
func backupCopyBucket(store *cloud.Store) pulumi.StringOutput {
	if store == nil || store.Copy == nil {
		return pulumi.String("").ToStringOutput()
	}
	return store.Copy.Bucket
}

// backupOutputs are the bucket, the prefix and the command that lists the
// cluster's snapshots, newest last, with the AWS CLI (which speaks to
// Spaces too); all empty without a store.
func (s *settings) backupOutputs(store *cloud.Store) (bucket, prefix, list pulumi.StringOutput) {
	if store == nil {
		empty := pulumi.String("").ToStringOutput()
		return empty, empty, empty
	}
	endpoint := ""
	if store.Endpoint != "" {
		endpoint = " --endpoint-url " + store.Endpoint
	}
	list = store.Bucket.ApplyT(func(bucket string) string {
		return fmt.Sprintf("aws s3 ls s3://%s/%s/ --recursive --region %s%s | sort", bucket, s.backupPrefix(), store.Region, endpoint)
	}).(pulumi.StringOutput)
	return store.Bucket, pulumi.String(s.backupPrefix()).ToStringOutput(), list
}

// backupKeyOutputs are the recipient and the identity (a secret), empty
// with backups off.
func (s *settings) backupKeyOutputs() (recipient, identity pulumi.StringOutput) {
	if s.backupKey == nil {
		empty := pulumi.String("").ToStringOutput()
		return empty, empty
	}
	return s.backupKey.recipient, s.backupKey.identity
}
