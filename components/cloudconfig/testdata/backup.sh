#!/bin/bash
# Snapshots this member over its client port, proves the snapshot
# restores, and uploads it under this member's name. Any failure fails
# the unit, and the journal says which step.
set -euo pipefail
dir=/var/lib/etcd-backup
mkdir -p "$dir"
name="etcd-$(date -u +%Y%m%dT%H%M%SZ).db"
sealed="$name.gz.age"
trap 'rm -rf "$dir/$name" "$dir/$sealed" "$dir/restore"' EXIT
echo "snapshot of etcd-dev-central-0 to $name"
/usr/bin/docker run --rm --network=host --volume=/etc/ssl/etcd:/etc/ssl/etcd:ro --volume=$dir:$dir --entrypoint=/usr/local/bin/etcdctl quay.io/coreos/etcd:v3.6.16 --endpoints=https://127.0.0.1:2379 --cacert=/etc/ssl/etcd/ca.crt --cert=/etc/ssl/etcd/member.crt --key=/etc/ssl/etcd/member.key snapshot save "$dir/$name"
echo "proving $name restores"
/usr/bin/docker run --rm --volume=$dir:$dir --entrypoint=/usr/local/bin/etcdutl quay.io/coreos/etcd:v3.6.16 snapshot restore "$dir/$name" --data-dir="$dir/restore"
[ -x /opt/bin/age ] || { echo "building age v1.3.1 into /opt/bin/age"; /usr/bin/docker run --rm --volume=/opt/bin:/opt/bin --env=GOBIN=/opt/bin --env=CGO_ENABLED=0 golang:1.26.8-alpine go install filippo.io/age/cmd/age@v1.3.1; }
# Only the recipient is here: this node can seal, never open.
echo "compressing and encrypting $name to $sealed"
gzip -c "$dir/$name" | /opt/bin/age --encrypt --recipient=age1y4j7uhg0dxcqtgk7yeanp983c9lj7qp6zeq247u4g50a7qpm7ehqpk7t9j --output="$dir/$sealed"
echo "uploading $sealed to etcd-dev-backups/etcd/etcd-dev/etcd-dev-central-0/"
# No look at the destination first: the name is new, and a HEAD of a
# missing key is refused to a role that may list only its prefix.
# As root on the host network: on AWS the instance role's credentials
# come from the metadata service, which only root on the node reaches.
/usr/bin/docker run --rm --network=host --user=0:0 --env-file=/etc/etcd-backup.env --volume=$dir:$dir:ro rclone/rclone:1.73.0 copyto --s3-no-check-bucket --no-check-dest "$dir/$sealed" "backup:etcd-dev-backups/etcd/etcd-dev/etcd-dev-central-0/$sealed"
