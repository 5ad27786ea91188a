#!/bin/bash
# Turns etcd's authentication on, once for the cluster. Users are the
# certificates' common names: the members and the operator are root; the
# workers' grpc-proxy presents a certificate without one, so the workers'
# clients authenticate as etcd-dev-workers with a password: read and write
# on every key, nothing else. Once it is on, this changes
# nothing: users and roles are the operator's (docs/security.md), never a
# node's whose user data may be older.
set -euo pipefail
ctl=(/usr/bin/docker run --rm --network=host --volume=/etc/ssl/etcd:/etc/ssl/etcd:ro --entrypoint=/usr/local/bin/etcdctl quay.io/coreos/etcd:v3.6.16 --cacert=/etc/ssl/etcd/ca.crt --cert=/etc/ssl/etcd/member.crt --key=/etc/ssl/etcd/member.key --endpoints=https://127.0.0.1:2379)
if ! s=$("${ctl[@]}" auth status 2>&1); then
  if [[ $s == *"permission denied"* ]]; then
    echo "authentication is on and etcd-dev-central-0 is not a root user: an operator adds it (docs/security.md)" >&2
    exit 0
  fi
  echo "etcd does not answer, retrying: $s" >&2
  exit 1
fi
if [[ $s == *"Authentication Status: true"* ]]; then
  echo "authentication is on already: nothing to do"
  exit 0
fi
users=$("${ctl[@]}" user list)
roles=$("${ctl[@]}" role list)
has() { grep -qx -- "$2" <<<"$1"; }
for u in root etcd-dev-central-0 etcd-dev-central-1 etcd-dev-central-2 etcd-dev-operator; do
  has "$users" $u || "${ctl[@]}" user add $u --no-password
  "${ctl[@]}" user grant-role $u root
done
w=etcd-dev-workers
has "$roles" $w || "${ctl[@]}" role add $w
"${ctl[@]}" role grant-permission $w readwrite '' --prefix
has "$users" $w || "${ctl[@]}" user add $w --new-user-password=0123456789abcdef0123456789abcdef
"${ctl[@]}" user grant-role $w $w
"${ctl[@]}" auth enable
echo "authentication on: root etcd-dev-central-0 etcd-dev-central-1 etcd-dev-central-2 etcd-dev-operator by certificate, $w by password"
