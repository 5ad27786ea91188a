#!/bin/bash
# A blank member only, before etcd starts: docs/backups.md.
set -euo pipefail
data=/var/lib/etcd
scratch="$data/.etcd-restore"
work=/var/lib/etcd-restore
trap 'rm -rf "$scratch" "$work"' EXIT
rm -rf "$scratch"
if ls -A "$data" | grep -qv '^lost+found$'; then
  echo "$data holds data: not restoring over it"
  rm -f /etc/etcd-restore.identity
  exit 0
fi
mkdir -p "$work"
echo "downloading etcd-dev-backups-copy/etcd-dev/etcd-dev-central-1/etcd-20261130T120000Z.db.gz.age"
/usr/bin/docker run --rm --network=host --user=0:0 --env-file=/etc/etcd-backup.env --volume=$work:$work rclone/rclone:1.73.0 copyto "copy:etcd-dev-backups-copy/etcd-dev/etcd-dev-central-1/etcd-20261130T120000Z.db.gz.age" "$work/snapshot.db.gz.age"
[ -x /opt/bin/age ] || /usr/bin/docker run --rm --volume=/opt/bin:/opt/bin --env=GOBIN=/opt/bin --env=CGO_ENABLED=0 golang:1.26.8-alpine go install filippo.io/age/cmd/age@v1.3.1
echo "decrypting it with backupIdentity"
if ! /opt/bin/age --decrypt --identity=/etc/etcd-restore.identity "$work/snapshot.db.gz.age" | gzip -dc >"$work/snapshot.db"; then
  echo "cannot decrypt it with backupIdentity: nothing restored" >&2
  exit 1
fi
echo "restoring etcd-dev-central-0 from it"
/usr/bin/docker run --rm --volume=$work:$work --volume=$data:$data --entrypoint=/usr/local/bin/etcdutl quay.io/coreos/etcd:v3.6.16 snapshot restore "$work/snapshot.db" --name=etcd-dev-central-0 --initial-cluster=etcd-dev-central-0=https://10.21.0.10:2380 --initial-cluster-token=etcd-dev-restored-20261130T120000Z --initial-advertise-peer-urls=https://10.21.0.10:2380 --data-dir="$scratch"
chown -R etcd:etcd "$scratch"
mv "$scratch/member" "$data/member"
rm -f /etc/etcd-restore.identity
echo "etcd-dev-central-0 restored from etcd-dev-backups-copy/etcd-dev/etcd-dev-central-1/etcd-20261130T120000Z.db.gz.age"
