#!/bin/bash
# An extra snapshot when the revision moved: docs/backups.md.
set -euo pipefail
now=$(/usr/bin/docker run --rm --network=host --volume=/etc/ssl/etcd:/etc/ssl/etcd:ro --entrypoint=/usr/local/bin/etcdctl quay.io/coreos/etcd:v3.6.16 --endpoints=https://127.0.0.1:2379 --cacert=/etc/ssl/etcd/ca.crt --cert=/etc/ssl/etcd/member.crt --key=/etc/ssl/etcd/member.key endpoint status -w json | grep -o '"revision":[0-9]*' | cut -d: -f2)
last=$(cat /var/lib/etcd-backup/revision 2>/dev/null || echo 0)
if [ $((now - last)) -le 10000 ]; then
  echo "revision $now, $((now - last)) past the last snapshot's: no snapshot due"
  exit 0
fi
echo "revision $now, $((now - last)) past the last snapshot's, more than 10000: a snapshot now"
exec /opt/bin/etcd-backup
