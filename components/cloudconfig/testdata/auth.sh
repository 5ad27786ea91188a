#!/bin/bash
# etcd authentication, turned on once (docs/security.md)
set -euo pipefail
c=(/usr/bin/docker run --rm --network=host --volume=/etc/ssl/etcd:/etc/ssl/etcd:ro --entrypoint=/usr/local/bin/etcdctl quay.io/coreos/etcd:v3.6.16 --cacert=/etc/ssl/etcd/ca.crt --cert=/etc/ssl/etcd/member.crt --key=/etc/ssl/etcd/member.key --endpoints=https://127.0.0.1:2379)
if ! s=$("${c[@]}" auth status 2>&1); then
  [[ $s == *"permission denied"* ]] && { echo "auth is on; etcd-dev-central-0 is no root user: an operator adds it" >&2; exit 0; }
  echo "$s" >&2; exit 1
fi
[[ $s == *"Status: true"* ]] && { echo "auth is on already"; exit 0; }
u=$("${c[@]}" user list) r=$("${c[@]}" role list) w=etcd-dev-workers
for n in root etcd-dev-central-0 etcd-dev-central-1 etcd-dev-central-2 etcd-dev-operator; do
  grep -qx $n <<<"$u" || "${c[@]}" user add $n --no-password
  "${c[@]}" user grant-role $n root
done
grep -qx $w <<<"$r" || "${c[@]}" role add $w
"${c[@]}" role grant-permission $w readwrite '' --prefix
grep -qx $w <<<"$u" || "${c[@]}" user add $w --new-user-password=0123456789abcdef0123456789abcdef
"${c[@]}" user grant-role $w $w
"${c[@]}" auth enable
