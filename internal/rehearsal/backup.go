package rehearsal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodeboot"
	"github.com/isolatedetcd/cluster/internal/nodescript"
	"github.com/isolatedetcd/cluster/internal/plan"
	"github.com/isolatedetcd/cluster/internal/s3lab"
)

var (
	claimBackup = claim{id: "7a", title: "every member uploads a sealed snapshot",
		text: "each member's backup unit (the script its timer starts, as rendered) snapshots the member over its TLS client port, proves the snapshot restores, compresses it and encrypts it to the cluster's age recipient, and uploads it to a real S3 server under the member's own name, and to the second copy's: what the store holds is age ciphertext, smaller than the database; once writes move the revision past backupRevisionThreshold, the revision check takes a snapshot without waiting for the schedule"}
	claimBackupLoud = claim{id: "7b", title: "a failed backup fails its unit",
		text: "with credentials the store refuses, the backup script exits non-zero and its output names the step that failed"}
	claimRestore = claim{id: "7c", title: "disaster recovery from the latest snapshot",
		text: "every member and its data destroyed, restoreFrom: latest with the stack's backupIdentity restores them at first boot from the encrypted, compressed snapshot: every key written before the snapshot is back, read by every worker on 127.0.0.1:2379, and exactly the keys written after it are lost; then again from the second copy (backupCopyRegion, restoreFromCopy) with the first store stopped"}
	claimVerify = claim{id: "7e", title: "a corrupted upload caught by the daily verification",
		text: "each member's backup unit writes its metrics for node_exporter's textfile collector (every backup metric the alerting rules read) and, once a day, checks the store's newest snapshot against the sha256 its member recorded; with a corrupted copy as the newest, the unit fails naming it and isolatedetcd_backup_verify_success flips to 0"}
	claimRestoreRefusals = claim{id: "7d", title: "bad restores refused, nothing destroyed",
		text: "a snapshot that does not exist stops the deploy with the program's message; a snapshot corrupted after upload, and one restored with another stack's backupIdentity, fail the member's restore unit, which cannot decrypt them, and leave its data volume blank; the restore unit on a member with data changes nothing"}
)

// backupKeys are how many keys the disaster drill writes before the
// snapshot and after it.
const backupKeysBefore, backupKeysAfter = 100, 20

// backupLines runs lines 7 and returns the disaster drill's restore time.
// The restore lines (7c, 7d) need a static TLS cluster, whose members keep
// their cloud addresses in a lab: a restored member dials its peers at the
// addresses its user data names, which exist only there.
func (r *rehearsal) backupLines(ctx context.Context, c *localetcd.Nodes, args components.ClusterArgs) ([]Line, float64) {
	lines := []Line{claimBackup.line(), claimBackupLoud.line(), claimRestore.line(), claimRestoreRefusals.line(), claimVerify.line()}
	all := func(with func(Line, string, ...any) Line, format string, v ...any) ([]Line, float64) {
		for i := range lines {
			lines[i] = with(lines[i], format, v...)
		}
		return lines, 0
	}
	if c.Plan.BackupBucket == "" {
		return all(Line.skip, "backup is off")
	}
	if err := nodescript.Available(); err != nil {
		return all(Line.skip, "not run: the nodes' backup and restore scripts run in mount namespaces: %v", err)
	}
	tools, err := nodescript.Build(ctx, []string{c.Central[0].Release}, r.log)
	if err != nil {
		return all(Line.fail, "the images' tools: %v", err)
	}
	store, err := s3lab.Start(ctx, s3lab.Config{Rclone: tools.Rclone, Dir: filepath.Join(r.Dir, "s3"), Buckets: []string{c.Plan.BackupBucket}, Lab: c.Lab})
	if err != nil {
		return all(Line.fail, "S3 server: %v", err)
	}
	defer store.Close()
	d := &backupDrill{rehearsal: r, c: c, args: args, tools: tools, store: store}
	if c.Plan.BackupCopyBucket != "" {
		// Another server: the copy's region, which outlives the first.
		if d.copy, err = s3lab.Start(ctx, s3lab.Config{Rclone: tools.Rclone, Dir: filepath.Join(r.Dir, "s3-copy"), Buckets: []string{c.Plan.BackupCopyBucket}, Lab: c.Lab}); err != nil {
			return all(Line.fail, "S3 server of the copy: %v", err)
		}
		defer d.copy.Close()
	}

	before, err := writeKeys(ctx, c, "before", backupKeysBefore)
	if err != nil {
		return all(Line.fail, "%v", err)
	}
	lines[0] = d.backup(ctx, lines[0])
	if lines[0].Status != Pass {
		return lines, 0
	}
	lines[1] = d.loud(ctx, lines[1])
	why := ""
	switch {
	case c.Lab == nil:
		why = "a restored member dials its peers at their cloud addresses, which the rehearsal has only in a TLS cluster's lab"
	case c.Plan.Bootstrap != components.BootstrapStatic:
		why = "restore needs static bootstrap"
	}
	if why != "" {
		lines[2], lines[3], lines[4] = lines[2].skip("%s", why), lines[3].skip("%s", why), lines[4].skip("run with the disaster drill: %s", why)
		return lines, 0
	}
	after, err := writeKeys(ctx, c, "after", backupKeysAfter)
	if err != nil {
		lines[2] = lines[2].fail("%v", err)
		return lines, 0
	}
	lines[3] = d.refusals(ctx, lines[3])
	var restore float64
	d.before = before
	lines[2], restore = d.restore(ctx, lines[2], before, after)
	// Last: the corrupted copy it plants stays in the store, as newest.
	if lines[2].Status != Pass {
		lines[4] = lines[4].skip("runs on the restored cluster, and the disaster drill failed")
		return lines, restore
	}
	lines[4] = d.verify(ctx, lines[4])
	if d.copy != nil {
		// Last: it stops the first store.
		lines[2] = d.restoreFromCopy(ctx, lines[2])
	}
	return lines, restore
}

// backupDrill is one run of lines 7: the cluster, its stack's settings, the
// tools the images carry and the S3 server standing in for the cloud's.
type backupDrill struct {
	*rehearsal
	c     *localetcd.Nodes
	args  components.ClusterArgs
	tools nodescript.Tools
	store *s3lab.Server
	// copy stands in for the second bucket's store; nil without one.
	copy *s3lab.Server
	// before are the keys the disaster drill restores first.
	before []string
}

// envFile is where the node's backup settings are; the rehearsal points
// them at its S3 server, the one thing it changes in the node's files.
const envFile = "/etc/etcd-backup.env"

// useStore points the uploader of nodes at the S3 server, with secret as
// the secret key (the server's own when empty).
func (d *backupDrill) useStore(nodes []*localetcd.Node, secret string) error {
	env := d.store.RemoteEnv(cloudconfig.RemoteBackup)
	if d.copy != nil {
		env = append(env, d.copy.RemoteEnv(cloudconfig.RemoteCopy)...)
	}
	if secret != "" {
		for i, kv := range env {
			if strings.HasPrefix(kv, "RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY=") {
				env[i] = "RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY=" + secret
			}
		}
	}
	for _, n := range nodes {
		path := filepath.Join(n.Proc.Dir(), nodeboot.RootDir, envFile)
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%s: the user data writes no %s: %w", n.Node, envFile, err)
		}
		if err := os.WriteFile(path, []byte(strings.Join(env, "\n")+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// run runs the script of n's unit that runs at boot before etcd
// (beforeEtcd), or else of the one its timer starts.
func (d *backupDrill) run(ctx context.Context, n *localetcd.Node, beforeEtcd bool) (string, error) {
	i := slices.IndexFunc(n.Scripts, func(s nodeboot.Script) bool { return s.BeforeEtcd == beforeEtcd && (beforeEtcd || s.Schedule != "") })
	if i < 0 {
		return "", fmt.Errorf("%s: no script unit that runs before etcd (%v) or on a timer (%v)", n.Node, beforeEtcd, !beforeEtcd)
	}
	return d.runScript(ctx, n, n.Scripts[i].Path)
}

// runScript runs the script at path, as n's user data has it.
func (d *backupDrill) runScript(ctx context.Context, n *localetcd.Node, path string) (string, error) {
	if !slices.ContainsFunc(n.Scripts, func(s nodeboot.Script) bool { return s.Path == path }) {
		return "", fmt.Errorf("%s: no unit runs %s", n.Node, path)
	}
	// The host its certificate names: its address, or in a lab its name.
	host, _, err := net.SplitHostPort(n.Endpoint().Addr)
	if err != nil {
		return "", err
	}
	return nodescript.Run(ctx, d.tools, nodescript.Node{Dir: n.Proc.Dir(), Addr: host, Lab: d.c.Lab}, path)
}

// snapshotName is an uploaded snapshot's key below the bucket: sealed,
// or the sha256 its member recorded beside it.
var snapshotName = regexp.MustCompile(`^([^/]+)/([^/]+)/etcd-[0-9]{8}T[0-9]{6}Z\.db\.gz\.age(\.sha256)?$`)

// ageHeader starts every age file; a snapshot starts with bbolt's pages.
const ageHeader = "age-encryption.org/v1\n"

// backup is line 7a: each member's timer-started unit, run once.
func (d *backupDrill) backup(ctx context.Context, l Line) Line {
	if err := d.useStore(d.c.Central, ""); err != nil {
		return l.fail("%v", err)
	}
	for _, n := range d.c.Central {
		if out, err := d.run(ctx, n, false); err != nil {
			return l.fail("%s: %v\n%s", n.Node, err, out)
		}
	}
	objects, err := d.store.List(ctx, d.c.Plan.BackupBucket)
	if err != nil {
		return l.fail("%v", err)
	}
	owners := map[string]string{}
	for _, o := range objects {
		key := strings.TrimPrefix(o.Key, d.c.Plan.BackupBucket+"/")
		m := snapshotName.FindStringSubmatch(key)
		if m == nil || m[1] != d.c.Plan.BackupPrefix || o.Size == 0 {
			return l.fail("object %s (%d bytes) is not a sealed snapshot, or its sha256, below %s/<member>/", o.Key, o.Size, d.c.Plan.BackupPrefix)
		}
		if m[3] != "" {
			continue
		}
		b, err := d.stored(key)
		if err != nil {
			return l.fail("%v", err)
		}
		if !strings.HasPrefix(string(b), ageHeader) {
			return l.fail("object %s is not age ciphertext: it starts %q", o.Key, b[:min(len(b), 24)])
		}
		sum, err := d.stored(key + ".sha256")
		if err != nil || !strings.HasPrefix(string(sum), fmt.Sprintf("%x ", sha256.Sum256(b))) {
			return l.fail("%s.sha256 (%v) does not hold the object's sha256: %q", o.Key, err, sum)
		}
		owners[m[2]] = key
	}
	// The member's database, as the snapshot was taken.
	db, err := os.Stat(filepath.Join(d.c.Central[0].DataDir(), "member", "snap", "db"))
	if err != nil {
		return l.fail("%v", err)
	}
	for _, n := range d.c.Central {
		if owners[n.Node] == "" || len(objects) != 2*len(d.c.Central) {
			return l.fail("want one snapshot of each member and its sha256, %s among them; the bucket holds %v", n.Node, objects)
		}
	}
	s3Key := owners[d.c.Central[0].Node]
	sealed, _ := d.stored(s3Key)
	copied := ""
	if d.copy != nil {
		for _, o := range objects {
			key := strings.TrimPrefix(o.Key, d.c.Plan.BackupBucket+"/")
			a, errA := d.stored(key)
			b, errB := os.ReadFile(filepath.Join(d.copy.Dir(), d.c.Plan.BackupCopyBucket, key))
			if errA != nil || errB != nil || !bytes.Equal(a, b) {
				return l.fail("the copy's s3://%s/%s (%v) is not the first store's (%v)", d.c.Plan.BackupCopyBucket, key, errB, errA)
			}
		}
		copied = fmt.Sprintf("; the same %d objects, byte for byte, in the copy's s3://%s (another server)", len(objects), d.c.Plan.BackupCopyBucket)
	}
	moved, err := d.moved(ctx)
	if err != nil {
		return l.fail("%v", err)
	}
	return l.pass("%d objects in s3://%s, a snapshot of each member under its own name with its sha256, each age ciphertext, e.g. %s (%d bytes; %s's database %d bytes)%s%s",
		len(objects), d.c.Plan.BackupBucket, s3Key, len(sealed), d.c.Central[0].Node, db.Size(), copied, moved)
}

// moved is line 7a's extra snapshot: the first member's revision check,
// run as its 5-minute timer runs it, takes none after the scheduled one,
// then, once writes moved the revision past the threshold, takes one at
// once. It returns the evidence, "" where the stack sets no threshold.
func (d *backupDrill) moved(ctx context.Context) (string, error) {
	n := d.c.Central[0]
	threshold := d.args.BackupRevisionThreshold
	if threshold == 0 {
		return "", nil
	}
	snapshots := func() (int, error) {
		objects, err := d.store.List(ctx, d.c.Plan.BackupBucket+"/"+d.c.Plan.BackupPrefix+"/"+n.Node)
		return len(objects), err
	}
	before, err := snapshots()
	if err != nil {
		return "", err
	}
	idle, err := d.runScript(ctx, n, cloudconfig.RevisionCheck.Script)
	if err != nil || !strings.Contains(idle, "no snapshot due") {
		return "", fmt.Errorf("%s's revision check, no write since its snapshot: %v\n%s", n.Node, err, idle)
	}
	if n, err := snapshots(); err != nil || n != before {
		return "", fmt.Errorf("the revision check with nothing written: %d objects, then %d (%v)", before, n, err)
	}
	writes := threshold + 10
	if _, err := writeKeys(ctx, d.c, "moved", writes); err != nil {
		return "", err
	}
	out, err := d.runScript(ctx, n, cloudconfig.RevisionCheck.Script)
	if err != nil || !strings.Contains(out, "a snapshot now") || !strings.Contains(out, "uploaded etcd-") {
		return "", fmt.Errorf("%s's revision check after %d writes: %v\n%s", n.Node, writes, err, out)
	}
	after, err := snapshots()
	if err != nil || after != before+2 {
		return "", fmt.Errorf("%s's objects after the revision check's snapshot: %d, then %d (%v); want one more snapshot and its sha256", n.Node, before, after, err)
	}
	said, _, _ := strings.Cut(out[strings.Index(out, "revision "):], "\n")
	return fmt.Sprintf("; %s's revision check (every 5 minutes) with nothing written: %q; after %d writes: %q, and its snapshot is in the store at once, the schedule an hour away",
		n.Node, lastLines(idle, 1), writes, said), nil
}

// loud is line 7b.
func (d *backupDrill) loud(ctx context.Context, l Line) Line {
	n := d.c.Central[0]
	if err := d.useStore([]*localetcd.Node{n}, "not-the-secret"); err != nil {
		return l.fail("%v", err)
	}
	defer func() { _ = d.useStore([]*localetcd.Node{n}, "") }()
	out, err := d.run(ctx, n, false)
	if err == nil {
		return l.fail("the backup succeeded with a wrong key:\n%s", out)
	}
	if !strings.Contains(out, "uploading") || !strings.Contains(out, "NOT uploaded to "+d.c.Plan.BackupBucket+"/") {
		return l.fail("the output does not say which step failed:\n%s", out)
	}
	step := out[strings.Index(out, "uploading"):]
	step, _, _ = strings.Cut(step, "\n")
	start := strings.LastIndex(out[:strings.Index(out, "NOT uploaded to")], "\n") + 1
	said, _, _ := strings.Cut(out[start:], "\n")
	return l.pass("the unit fails (%v) after %q, saying %q; rclone's last word: %s", err, step, said, lastLines(out[:start], 1))
}

// objectKeys are the keys below the bucket the S3 server holds, as the
// program's listing of the bucket sees them.
func (d *backupDrill) objectKeys(ctx context.Context) (map[string][]string, error) {
	objects, err := d.store.List(ctx, d.c.Plan.BackupBucket)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, o := range objects {
		keys = append(keys, strings.TrimPrefix(o.Key, d.c.Plan.BackupBucket+"/"))
	}
	return map[string][]string{d.c.Plan.BackupBucket: keys}, nil
}

// restorePlan is the cluster the program renders with restoreFrom set to
// from, in a cloud whose bucket holds what the S3 server holds.
func (d *backupDrill) restorePlan(ctx context.Context, from string) (*localetcd.Nodes, error) {
	return d.restorePlanWith(ctx, from, d.c.Plan.BackupIdentity)
}

// restorePlanWith is restorePlan with identity as backupIdentity.
func (d *backupDrill) restorePlanWith(ctx context.Context, from, identity string) (*localetcd.Nodes, error) {
	objects, err := d.objectKeys(ctx)
	if err != nil {
		return nil, err
	}
	a := d.args
	a.RestoreFrom, a.BackupIdentity = from, identity
	p, err := plan.ReadIn(d.c.Plan.Cluster, a, objects)
	if err != nil {
		return nil, err
	}
	return localetcd.Prepare(p, d.Block, d.c.DiscoveryURL)
}

// takeUserData gives n the files of next, as a machine created on new user
// data has them, with the uploader pointed at the S3 server.
func (d *backupDrill) takeUserData(n, next *localetcd.Node) error {
	n.Process = next.Process
	if err := localetcd.PutFiles(n); err != nil {
		return err
	}
	return d.useStore([]*localetcd.Node{n}, "")
}

// refusals is line 7d. It leaves every member on the user data it had.
func (d *backupDrill) refusals(ctx context.Context, l Line) Line {
	missing := d.c.Plan.BackupPrefix + "/" + d.c.Central[0].Node + "/etcd-19990101T000000Z.db"
	_, err := d.restorePlan(ctx, missing)
	if err == nil || !strings.Contains(err.Error(), "is not in bucket") {
		return l.fail("restoreFrom %s: %v; want the program's refusal", missing, err)
	}
	_, refusedMissing, _ := strings.Cut(err.Error(), "restoreFrom: ")
	refusedMissing, _, _ = strings.Cut(refusedMissing, ";")

	// A corrupt copy of a real snapshot, restored by a blank member.
	objects, err := d.objectKeys(ctx)
	if err != nil {
		return l.fail("%v", err)
	}
	good := objects[d.c.Plan.BackupBucket][slices.IndexFunc(objects[d.c.Plan.BackupBucket], cloudconfig.Sealed)]
	b, err := os.ReadFile(filepath.Join(d.store.Dir(), d.c.Plan.BackupBucket, good))
	if err != nil {
		return l.fail("read %s: %v", good, err)
	}
	for i := len(b) / 2; i < len(b)/2+64 && i < len(b); i++ {
		b[i] ^= 0xff
	}
	corrupt := d.c.Plan.BackupPrefix + "/corrupt/etcd-20000101T000000Z.db.gz.age"
	if err := d.store.Put(ctx, d.c.Plan.BackupBucket+"/"+corrupt, b); err != nil {
		return l.fail("%v", err)
	}
	next, err := d.restorePlan(ctx, corrupt)
	if err != nil {
		return l.fail("restoreFrom %s: %v", corrupt, err)
	}
	// A blank machine beside the cluster: a new node directory.
	blank := *d.c.Central[0]
	blank.Proc = d.c.NewProc(blank.Node+"-blank", filepath.Join(d.Dir, blank.Node+"-blank"), "", nil, nil)
	refusedCorrupt, err := d.refusedOnBlank(ctx, &blank, next.Central[0])
	if err != nil {
		return l.fail("corrupt snapshot: %v", err)
	}
	// A good snapshot, with another stack's identity.
	other, err := age.GenerateX25519Identity()
	if err != nil {
		return l.fail("%v", err)
	}
	if next, err = d.restorePlanWith(ctx, good, other.String()); err != nil {
		return l.fail("restoreFrom %s: %v", good, err)
	}
	refusedKey, err := d.refusedOnBlank(ctx, &blank, next.Central[0])
	if err != nil {
		return l.fail("another stack's identity: %v", err)
	}

	// The restore unit on a member with data: it keeps its data.
	n := d.c.Central[0]
	kept := n.Process
	next, err = d.restorePlan(ctx, components.RestoreLatest)
	if err != nil {
		return l.fail("%v", err)
	}
	if err := d.takeUserData(n, next.Central[0]); err != nil {
		return l.fail("%v", err)
	}
	keysBefore, err := n.Endpoint().Keys(ctx, backupPrefix)
	if err != nil {
		return l.fail("%v", err)
	}
	out, err := d.run(ctx, n, true)
	n.Process = kept
	if perr := errors.Join(localetcd.PutFiles(n), d.useStore([]*localetcd.Node{n}, "")); perr != nil {
		return l.fail("%s back on its own user data: %v", n.Node, perr)
	}
	if err != nil || !strings.Contains(out, "not restoring over it") {
		return l.fail("restore unit on %s, which has data: %v\n%s", n.Node, err, out)
	}
	keysAfter, err := n.Endpoint().Keys(ctx, backupPrefix)
	if err != nil || len(keysAfter) != len(keysBefore) {
		return l.fail("%s held %d keys, then %d (%v)", n.Node, len(keysBefore), len(keysAfter), err)
	}
	return l.pass("missing snapshot: %s; corrupt snapshot: unit failed (%s), data volume left blank; another stack's identity: unit failed (%s), data volume left blank; member with data: %q, its %d keys unchanged",
		refusedMissing, refusedCorrupt, refusedKey, lastLines(out, 1), len(keysAfter))
}

// refusedOnBlank runs the restore unit of next's user data on the blank
// machine, which must download the snapshot, fail to decrypt it and leave
// its data directory blank; it returns the unit's last word.
func (d *backupDrill) refusedOnBlank(ctx context.Context, blank, next *localetcd.Node) (string, error) {
	if err := d.takeUserData(blank, next); err != nil {
		return "", err
	}
	out, err := d.run(ctx, blank, true)
	if err == nil {
		return "", fmt.Errorf("it restored:\n%s", out)
	}
	// Downloaded, then refused by the decryption.
	if !strings.Contains(out, "decrypting it") || !strings.Contains(out, "cannot decrypt") {
		return "", fmt.Errorf("the restore unit failed, but not on decrypting: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(blank.DataDir()); len(entries) != 0 {
		return "", fmt.Errorf("the failed restore left %d entries in the data directory", len(entries))
	}
	return lastLines(out, 1), nil
}

// restore is line 7c: every member stopped and its data destroyed, then
// brought back by the program's user data with restoreFrom: latest. It
// returns the seconds from the loss to every key read back.
func (d *backupDrill) restore(ctx context.Context, l Line, before, after []string) (Line, float64) {
	next, err := d.restorePlan(ctx, components.RestoreLatest)
	if err != nil {
		return l.fail("restoreFrom latest: %v", err), 0
	}
	took, err := d.restoreCluster(ctx, next, before, after)
	if err != nil {
		return l.fail("%v", err), 0
	}
	return l.pass("restored %d members from %s in %.1f s (loss to every key read back); %d keys written before the snapshot read by all %d workers on 127.0.0.1:2379; lost: the %d written after it, exactly",
		len(d.c.Central), restoredFrom(next.Central[0]), took, len(before), len(d.c.Workers), len(after)), took
}

// restoreCluster stops every member, deletes its data and restores it
// with next's user data, then checks that every worker reads each key of
// kept and none of lost. It returns the seconds from the loss to every key
// read back.
func (d *backupDrill) restoreCluster(ctx context.Context, next *localetcd.Nodes, kept, lost []string) (float64, error) {
	for _, n := range d.c.Central {
		n.Stop(5 * time.Second)
		if err := os.RemoveAll(n.DataDir()); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	for i, n := range d.c.Central {
		if err := d.takeUserData(n, next.Central[i]); err != nil {
			return 0, err
		}
		if out, err := d.run(ctx, n, true); err != nil {
			return 0, fmt.Errorf("%s: %v\n%s", n.Node, err, out)
		}
		n.Proc = n.Proc.Restarted(d.Bin(n.Release), n.Args, n.Env)
		if err := d.Start(n.Proc); err != nil {
			return 0, fmt.Errorf("%s: %v", n.Node, err)
		}
	}
	for _, n := range d.c.Central {
		if err := localetcd.Retry(ctx, drillTimeout, func() error { return n.Endpoint().Healthy(ctx) }); err != nil {
			return 0, fmt.Errorf("%s after restore: %v\n%s", n.Node, err, n.LogTail(5))
		}
	}
	for _, w := range d.c.Workers {
		var got map[string]bool
		err := localetcd.Retry(ctx, drillTimeout, func() error {
			var err error
			got, err = w.Endpoint().Keys(ctx, backupPrefix)
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("worker %s: %v", w.Node, err)
		}
		for _, k := range kept {
			if !got[k] {
				return 0, fmt.Errorf("worker %s does not read %s, written before the snapshot", w.Node, k)
			}
		}
		for _, k := range lost {
			if got[k] {
				return 0, fmt.Errorf("worker %s reads %s, written after the snapshot", w.Node, k)
			}
		}
	}
	return time.Since(start).Seconds(), nil
}

// restoreFromCopy is line 7c's second half, on the restored cluster: keys
// written, a backup run on one member (which uploads to both stores), more
// keys written, the first store stopped, as its region lost, and every
// member restored with restoreFromCopy and restoreFrom: latest from what
// the copy holds. It stops the first store, so it runs last.
func (d *backupDrill) restoreFromCopy(ctx context.Context, l Line) Line {
	if l.Status != Pass {
		return l
	}
	fail := func(format string, v ...any) Line { return l.fail("from the copy: "+format, v...) }
	kept, err := writeKeys(ctx, d.c, "before-copy", backupKeysAfter)
	if err != nil {
		return fail("%v", err)
	}
	n := d.c.Central[0]
	if out, err := d.run(ctx, n, false); err != nil {
		return fail("%s's backup unit: %v\n%s", n.Node, err, out)
	}
	lost, err := writeKeys(ctx, d.c, "after-copy", backupKeysAfter)
	if err != nil {
		return fail("%v", err)
	}
	d.store.Close()
	objects, err := d.copy.List(ctx, d.c.Plan.BackupCopyBucket)
	if err != nil {
		return fail("%v", err)
	}
	var keys []string
	for _, o := range objects {
		keys = append(keys, strings.TrimPrefix(o.Key, d.c.Plan.BackupCopyBucket+"/"))
	}
	a := d.args
	a.RestoreFrom, a.RestoreFromCopy, a.BackupIdentity = components.RestoreLatest, true, d.c.Plan.BackupIdentity
	p, err := plan.ReadIn(d.c.Plan.Cluster, a, map[string][]string{d.c.Plan.BackupCopyBucket: keys})
	if err != nil {
		return fail("restoreFromCopy, restoreFrom latest: %v", err)
	}
	next, err := localetcd.Prepare(p, d.Block, d.c.DiscoveryURL)
	if err != nil {
		return fail("%v", err)
	}
	took, err := d.restoreCluster(ctx, next, append(d.before, kept...), lost)
	if err != nil {
		return fail("%v", err)
	}
	return l.pass("%s; then, the first store stopped, restored %d members from the copy's %s in %.1f s: the %d first keys and the %d written before its snapshot read by every worker, the %d written after it lost",
		l.Evidence, len(d.c.Central), restoredFrom(next.Central[0]), took, len(d.before), len(kept), len(lost))
}

// restoredFrom is the snapshot a node's user data restores, as
// remote:bucket/key.
func restoredFrom(n *localetcd.Node) string {
	for _, f := range n.Files {
		if m := restoreCopy.FindStringSubmatch(f.Content); m != nil && f.Path == "/opt/bin/etcd-restore" {
			return m[1]
		}
	}
	return "?"
}

// restoreCopy is the restore script's download.
var restoreCopy = regexp.MustCompile(`copyto "((` + cloudconfig.RemoteBackup + `|` + cloudconfig.RemoteCopy + `):[^"]+)"`)

// backupPrefix holds the keys of the disaster drill.
const backupPrefix = "/rehearsal/backup/"

// writeKeys writes count keys below backupPrefix/tag/ through the first
// worker and returns them.
func writeKeys(ctx context.Context, c *localetcd.Nodes, tag string, count int) ([]string, error) {
	var keys []string
	for i := range count {
		k := fmt.Sprintf("%s%s/%03d", backupPrefix, tag, i)
		if err := c.Workers[0].Endpoint().Put(ctx, k, tag); err != nil {
			return nil, fmt.Errorf("write %s: %w", k, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// lastLines are the last n non-empty lines of out, joined.
func lastLines(out string, n int) string {
	var lines []string
	for l := range strings.Lines(out) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// stored is the object at key below the bucket, as the S3 server keeps it.
func (d *backupDrill) stored(key string) ([]byte, error) {
	return os.ReadFile(filepath.Join(d.store.Dir(), d.c.Plan.BackupBucket, key))
}

// backupMetric is one line a backup unit writes for node_exporter's
// textfile collector, in Prometheus's text format.
var backupMetric = regexp.MustCompile(`^(isolatedetcd_backup_[a-z_]+)\{cluster="([^"]+)",member="([^"]+)"\} ([0-9]+)$`)

// nodeMetrics are the backup metrics n's units last wrote, by name.
func nodeMetrics(n *localetcd.Node) (map[string]int64, error) {
	out := map[string]int64{}
	for _, f := range []string{"etcd_backup.prom", "etcd_backup_verify.prom"} {
		b, err := os.ReadFile(filepath.Join(n.Proc.Dir(), nodeboot.RootDir, cloudconfig.MetricsDir, f))
		if err != nil {
			return nil, err
		}
		for line := range strings.Lines(string(b)) {
			m := backupMetric.FindStringSubmatch(strings.TrimSpace(line))
			if m == nil || m[3] != n.Node {
				return nil, fmt.Errorf("%s: %q is not a sample of %s's backup metrics", f, line, n.Node)
			}
			out[m[1]], _ = strconv.ParseInt(m[4], 10, 64)
		}
	}
	return out, nil
}

// verify is line 7e: the metrics of the backups the first member took
// (line 7a), then a corrupted copy of its snapshot, planted as the store's
// newest (as an upload damaged on its way, or in the store), caught by the
// member's next verification. It runs last: the copy stays.
func (d *backupDrill) verify(ctx context.Context, l Line) Line {
	n := d.c.Central[0]
	got, err := nodeMetrics(n)
	if err != nil {
		return l.fail("%v", err)
	}
	names, err := backupAlertMetrics(d.project)
	if err != nil {
		return l.fail("the alerting rules' metrics: %v", err)
	}
	for _, name := range names {
		if _, ok := got[name]; !ok {
			return l.fail("%s's units write no %s, which the alerting rules read; they write %v", n.Node, name, got)
		}
	}
	if got["isolatedetcd_backup_verify_success"] != 1 || got["isolatedetcd_backup_schedule_period_seconds"] != 3600 ||
		time.Since(time.Unix(got["isolatedetcd_backup_last_upload_timestamp_seconds"], 0)) > 10*time.Minute {
		return l.fail("%s's metrics after its backups: %v; want verify_success 1, an hourly period and an upload just now", n.Node, got)
	}
	objects, err := d.objectKeys(ctx)
	if err != nil {
		return l.fail("%v", err)
	}
	var good string
	for _, k := range objects[d.c.Plan.BackupBucket] {
		if cloudconfig.Sealed(k) && strings.Contains(k, "/"+n.Node+"/") {
			good = k
		}
	}
	b, err := d.stored(good)
	if err != nil {
		return l.fail("%v", err)
	}
	sum, err := d.stored(good + ".sha256")
	if err != nil {
		return l.fail("%v", err)
	}
	b[len(b)-1] ^= 0xff
	planted := d.c.Plan.BackupPrefix + "/" + n.Node + "/etcd-20991231T235959Z" + cloudconfig.SealedSuffix
	if err := errors.Join(d.store.Put(ctx, d.c.Plan.BackupBucket+"/"+planted, b), d.store.Put(ctx, d.c.Plan.BackupBucket+"/"+planted+".sha256", sum)); err != nil {
		return l.fail("%v", err)
	}
	// A day since the last verification: the unit verifies again.
	if err := os.Remove(filepath.Join(n.Proc.Dir(), nodeboot.RootDir, cloudconfig.MetricsDir, "etcd_backup_verify.prom")); err != nil {
		return l.fail("%v", err)
	}
	out, runErr := d.run(ctx, n, false)
	if runErr == nil || !strings.Contains(out, d.c.Plan.BackupBucket+"/"+planted+" is CORRUPT") {
		return l.fail("the unit with a corrupted newest snapshot: %v\n%s", runErr, out)
	}
	after, err := nodeMetrics(n)
	if err != nil {
		return l.fail("%v", err)
	}
	if after["isolatedetcd_backup_verify_success"] != 0 || after["isolatedetcd_backup_last_upload_timestamp_seconds"] < got["isolatedetcd_backup_last_upload_timestamp_seconds"] {
		return l.fail("metrics after the failed verification: %v; want verify_success 0 and the upload before it recorded", after)
	}
	return l.pass("%s's metrics %v; with a corrupted copy as the newest snapshot the unit fails (%v): %s; verify_success 0 after it",
		n.Node, got, runErr, lastLines(out, 1))
}

// backupAlertMetrics are the backup metrics the alerting rules read, as
// their tests list them in the project directory.
func backupAlertMetrics(project string) ([]string, error) {
	text, err := os.ReadFile(filepath.Join(project, "monitoring", "metric-names.txt"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range strings.Fields(string(text)) {
		if strings.HasPrefix(n, "isolatedetcd_backup_") {
			names = append(names, n)
		}
	}
	if names == nil {
		return nil, errors.New("monitoring/metric-names.txt names no backup metric")
	}
	return names, nil
}

// rehearsedRevisionThreshold is the backupRevisionThreshold the rehearsal
// gives a stack that sets none: line 7a moves the revision past it.
const rehearsedRevisionThreshold = 50

// withBackupOptions gives a stack that backs up to a bucket the program
// creates a second copy in another region of its cloud, and a revision
// threshold, where it sets none, so that every rehearsal proves both
// (lines 7a, 7c).
func withBackupOptions(a *components.ClusterArgs) {
	if a.BackupBucket != "" || a.Flavor == string(cloudconfig.CoreOSEtcd2) || a.Backup != nil && !*a.Backup {
		return
	}
	if a.BackupRevisionThreshold == 0 {
		a.BackupRevisionThreshold = rehearsedRevisionThreshold
	}
	if a.BackupCopyRegion != "" {
		return
	}
	a.BackupCopyRegion = "us-west-2"
	switch {
	case a.Cloud == "digitalocean" && a.Region == "ams3":
		a.BackupCopyRegion = "fra1"
	case a.Cloud == "digitalocean":
		a.BackupCopyRegion = "ams3"
	case a.Region == "us-west-2":
		a.BackupCopyRegion = "us-east-2"
	}
}
