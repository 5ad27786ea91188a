#!/bin/bash
# docs/operations.md: a blank member rejoins as a learner, then a voter.
set -uo pipefail
c=(/usr/bin/docker run --rm --network=host --volume=/etc/ssl/etcd:/etc/ssl/etcd:ro --entrypoint=/usr/local/bin/etcdctl quay.io/coreos/etcd:v3.6.16 --cacert=/etc/ssl/etcd/ca.crt --cert=/etc/ssl/etcd/member.crt --key=/etc/ssl/etcd/member.key --dial-timeout=2s --command-timeout=3s)
me=etcd-dev-central-0 url=https://10.21.0.10:2380 env=/etc/etcd-join.env
peers=( https://10.21.16.10:2379 https://10.21.32.10:2379 )
# This member in $1's member list: id, status, name, peer URL, client URL, learner.
entry() { local l; l=$("${c[@]}" --endpoints=$1 member list) || return 1; grep -F ", $url, " <<<"$l" || true; }
join() {
  local p q= s= e out
  for p in "${peers[@]}"; do
    "${c[@]}" --endpoints=$p endpoint health &>/dev/null && { q=$p; break; }
    "${c[@]}" --endpoints=$p endpoint status &>/dev/null && s=$p
  done
  [ -n "$q$s" ] || { echo "blank; no member answers: a new cluster, starting as rendered"; return 0; }
  [ -n "$q" ] || { echo "blank; $s answers, no quorum without $me: waiting" >&2; return 1; }
  e=$(entry $q) || return 1
  # A voter that never published its client URLs never started: a new
  # cluster (static bootstrap names every member) formed before this node.
  [[ $e != *", , false" ]] || { echo "blank; $me is a member never started: the first boot of a new cluster, starting as rendered"; return 0; }
  [ -z "$e" ] || "${c[@]}" --endpoints=$q member remove ${e%%,*} || return 1
  out=$("${c[@]}" --endpoints=$q member add $me --peer-urls=$url --learner 2>&1) || { echo "$out: waiting" >&2; return 1; }
  grep -E '^ETCD_INITIAL_CLUSTER(_STATE)?=' <<<"$out" | tr -d '"' >$env
  echo "blank; $me added as a learner via $q${e:+ in place of ${e%%,*}}"
}
promote() {
  local p e
  for p in "${peers[@]}"; do e=$(entry $p) && [ -n "$e" ] && break; done
  [ -n "$e" ] || { echo "no member lists $me: waiting" >&2; return 1; }
  [[ $e == *", true" ]] || { echo "$me is a voter"; return 0; }
  "${c[@]}" --endpoints=$p member promote ${e%%,*}
}
if [ "${1:-}" = promote ]; then
  until promote; do sleep 2; done
  exit
fi
rm -f $env
[ ! -e /etc/etcd-left ] || { echo "$me left its cluster (etcd-leave): not starting it again; delete this machine" >&2; exit 1; }
if ls -A /var/lib/etcd | grep -qv '^lost+found$'; then echo "/var/lib/etcd holds data: starting as it is"; exit 0; fi
until join; do sleep 15; done
