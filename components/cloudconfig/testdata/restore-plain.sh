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
  exit 0
fi
mkdir -p "$work"
echo "downloading etcd-dev-backups/etcd/etcd-dev/etcd-dev-central-1/etcd-20261130T120000Z.db"
/usr/bin/docker run --rm --network=host --user=0:0 --env-file=/etc/etcd-backup.env --volume=$work:$work rclone/rclone:1.73.0 copyto "backup:etcd-dev-backups/etcd/etcd-dev/etcd-dev-central-1/etcd-20261130T120000Z.db" "$work/snapshot.db"
echo "restoring etcd-dev-central-0 from it"
/usr/bin/docker run --rm --volume=$work:$work --volume=$data:$data --entrypoint=/usr/local/bin/etcdutl quay.io/coreos/etcd:v3.6.16 snapshot restore "$work/snapshot.db" --name=etcd-dev-central-0 --initial-cluster=etcd-dev-central-0=https://10.21.0.10:2380 --initial-cluster-token=etcd-dev-restored-20261130T120000Z --initial-advertise-peer-urls=https://10.21.0.10:2380 --data-dir="$scratch"
chown -R etcd:etcd "$scratch"
mv "$scratch/member" "$data/member"
echo "etcd-dev-central-0 restored from etcd-dev-backups/etcd/etcd-dev/etcd-dev-central-1/etcd-20261130T120000Z.db"
