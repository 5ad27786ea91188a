#!/bin/bash
# Each step and why: docs/backups.md.
set -euo pipefail
dir=/var/lib/etcd-backup
metrics() {
  f=/var/lib/node_exporter/textfile_collector/$1
  shift
  mkdir -p /var/lib/node_exporter/textfile_collector
  printf 'isolatedetcd_backup_%s{cluster="etcd-dev",member="etcd-dev-central-0"} %s\n' "$@" >"$f.tmp"
  mv "$f.tmp" "$f"
}
verify() {
  dir=/var/lib/etcd-backup-verify
  ok=0 at=0
  trap 'metrics etcd_backup_verify.prom verify_success $ok verify_timestamp_seconds $(date -u +%s) verified_snapshot_timestamp_seconds $at; rm -rf "$dir"' EXIT
  rm -rf "$dir"
  mkdir -p "$dir"
  newest=$(/usr/bin/docker run --rm --network=host --user=0:0 --env-file=/etc/etcd-backup.env rclone/rclone:1.73.0 lsjson -R --files-only "backup:etcd-dev-backups/etcd/etcd-dev/" |
    grep -o '"Path":"[^"]*.db.gz.age"' | cut -d'"' -f4 | awk -F/ '{print $NF, $0}' | sort | tail -n 1 | cut -d' ' -f2)
  [ -n "$newest" ] || { echo "no snapshot below etcd-dev-backups/etcd/etcd-dev/" >&2; exit 1; }
  echo "verifying $newest"
  /usr/bin/docker run --rm --network=host --user=0:0 --env-file=/etc/etcd-backup.env --volume=$dir:$dir rclone/rclone:1.73.0 copyto "backup:etcd-dev-backups/etcd/etcd-dev/$newest" "$dir/snapshot"
  /usr/bin/docker run --rm --network=host --user=0:0 --env-file=/etc/etcd-backup.env --volume=$dir:$dir rclone/rclone:1.73.0 copyto "backup:etcd-dev-backups/etcd/etcd-dev/$newest.sha256" "$dir/sha256"
  got=$(sha256sum "$dir/snapshot" | cut -d' ' -f1)
  want=$(cut -d' ' -f1 "$dir/sha256")
  if [ "$got" != "$want" ]; then
    echo "etcd-dev-backups/etcd/etcd-dev/$newest is CORRUPT in the store: sha256 $got, recorded $want" >&2
    exit 1
  fi
  t=${newest##*/etcd-}
  at=$(date -ud "${t:0:8} ${t:9:2}:${t:11:2}:${t:13:2}" +%s)
  ok=1
  echo "$newest verified"
}
mkdir -p "$dir"
# One run at a time: the timer's, and the revision check's.
exec 9>"$dir/.lock"
flock 9
name="etcd-$(date -u +%Y%m%dT%H%M%SZ).db"
sealed="$name.gz.age"
trap 'rm -rf "$dir/$name" "$dir/$sealed" "$dir/$sealed.sha256" "$dir/restore"' EXIT
echo "snapshot of etcd-dev-central-0 to $name"
/usr/bin/docker run --rm --network=host --volume=/etc/ssl/etcd:/etc/ssl/etcd:ro --volume=$dir:$dir --entrypoint=/usr/local/bin/etcdctl quay.io/coreos/etcd:v3.6.16 --endpoints=https://127.0.0.1:2379 --cacert=/etc/ssl/etcd/ca.crt --cert=/etc/ssl/etcd/member.crt --key=/etc/ssl/etcd/member.key snapshot save "$dir/$name"
echo "proving $name restores"
/usr/bin/docker run --rm --volume=$dir:$dir --entrypoint=/usr/local/bin/etcdutl quay.io/coreos/etcd:v3.6.16 snapshot restore "$dir/$name" --data-dir="$dir/restore"
revision=$(/usr/bin/docker run --rm --volume=$dir:$dir --entrypoint=/usr/local/bin/etcdutl quay.io/coreos/etcd:v3.6.16 snapshot status "$dir/$name" -w json | grep -o '"revision":[0-9]*' | cut -d: -f2)
[ -x /opt/bin/age ] || /usr/bin/docker run --rm --volume=/opt/bin:/opt/bin --env=GOBIN=/opt/bin --env=CGO_ENABLED=0 golang:1.26.8-alpine go install filippo.io/age/cmd/age@v1.3.1
echo "sealing $name"
gzip -c "$dir/$name" | /opt/bin/age --encrypt --recipient=age1y4j7uhg0dxcqtgk7yeanp983c9lj7qp6zeq247u4g50a7qpm7ehqpk7t9j --output="$dir/$sealed"
(cd "$dir" && sha256sum "$sealed" >"$sealed.sha256")
failed=0
for to in backup:etcd-dev-backups/etcd/etcd-dev copy:etcd-dev-backups-copy/etcd-dev; do
  echo "uploading $sealed to ${to#*:}/etcd-dev-central-0/"
  /usr/bin/docker run --rm --network=host --user=0:0 --env-file=/etc/etcd-backup.env --volume=$dir:$dir:ro rclone/rclone:1.73.0 copyto --s3-no-check-bucket --no-check-dest "$dir/$sealed" "$to/etcd-dev-central-0/$sealed" &&
    /usr/bin/docker run --rm --network=host --user=0:0 --env-file=/etc/etcd-backup.env --volume=$dir:$dir:ro rclone/rclone:1.73.0 copyto --s3-no-check-bucket --no-check-dest "$dir/$sealed.sha256" "$to/etcd-dev-central-0/$sealed.sha256" ||
    { echo "$sealed NOT uploaded to ${to#*:}" >&2; failed=$((failed + 1)); }
done
[ $failed -lt 2 ] || exit 1
echo "$revision" >/var/lib/etcd-backup/revision
mapfile -t runs < <(TZ=UTC systemd-analyze calendar --iterations=2 'hourly' | sed -n 's/^ *\(Next elapse\|Iter\. #2\): [A-Za-z]* //p')
metrics etcd_backup.prom last_upload_timestamp_seconds "$(date -u +%s)" schedule_period_seconds $(($(date -ud "${runs[1]}" +%s) - $(date -ud "${runs[0]}" +%s)))
[ $failed = 0 ] || exit 1
echo "uploaded $sealed"
if [ -z "$(find /var/lib/node_exporter/textfile_collector/etcd_backup_verify.prom -mmin -1380 2>/dev/null)" ]; then
  rm -rf "$dir/$name" "$dir/$sealed" "$dir/$sealed.sha256" "$dir/restore"
  verify
fi
