#!/bin/bash
# Defragments members 25%+ free, one at a time, followers first,
# under a lock in etcd; under NOSPACE compacts first, then disarms.
set -euo pipefail
ctl=(/usr/bin/docker run --rm --network=host --entrypoint=/usr/local/bin/etcdctl quay.io/coreos/etcd:v3.5.35)
here=--endpoints=http://127.0.0.1:2379
pid=
if "${ctl[@]}" $here alarm list | grep -q NOSPACE; then
  # A lock is a write, which NOSPACE refuses.
  echo "NOSPACE raised: running without the lock isolated-etcd/defrag"
else
  coproc lock { exec "${ctl[@]}" $here lock isolated-etcd/defrag; }
  pid=$lock_PID
  exec {out}<&"${lock[0]}"
  trap 'kill $pid 2>/dev/null; wait $pid; true' EXIT
  read -r -t 1800 key <&$out || { echo "no lock isolated-etcd/defrag in 1800 s: another run holds it, or etcd does not answer" >&2; exit 1; }
  echo "holding lock $key"
fi
f() { if [[ $1 =~ \"$2\":([0-9]+) ]]; then echo ${BASH_REMATCH[1]}; else echo 0; fi; }
# check: every member answers (m: endpoint id leader size used revision),
# all under one leader among them, no alarm but NOSPACE.
check() {
  local j e a
  j=$("${ctl[@]}" $here endpoint status --cluster -w json) || { echo "a member does not answer" >&2; return 1; }
  m=()
  while read -r e; do
    [[ $e =~ ^\"([^\"]+) ]] && m+=("${BASH_REMATCH[1]} $(f "$e" member_id) $(f "$e" leader) $(f "$e" dbSize) $(f "$e" dbSizeInUse) $(f "$e" revision)")
  done <<<"${j//'{"Endpoint":'/$'\n'}"
  leader=$(printf '%s\n' "${m[@]}" | cut -d' ' -f3 | sort -u)
  printf '%s\n' "${m[@]}" | cut -d' ' -f2 | grep -qx "$leader" || { echo "no one leader: ${leader//$'\n'/ }" >&2; return 1; }
  a=$("${ctl[@]}" $here alarm list)
  ! grep -v 'alarm:NOSPACE *$' <<<"$a" | grep . >&2 || { echo "alarm raised: not defragmenting" >&2; return 1; }
  nospace=$(grep -c . <<<"$a" || true)
}
check
if [ $nospace != 0 ]; then
  rev=$(printf '%s\n' "${m[@]}" | cut -d' ' -f6 | sort -n | tail -1)
  echo "NOSPACE: compacting all history to revision $rev"
  o=$("${ctl[@]}" $here compaction --physical $rev 2>&1) || [[ $o == *"has been compacted"* ]] || { echo "$o" >&2; exit 1; }
  check
fi
n=0
for s in $(printf '%s\n' "${m[@]}" | awk -v l=$leader '{print ($2 == l) " " $0}' | sort -n | tr ' ' ,); do
  IFS=, read -r last ep _ _ size used _ <<<"$s"
  role=follower; [ $last = 0 ] || role=leader
  # Under NOSPACE every member, whose in-use size may lag the compaction.
  if [ $nospace = 0 ] && [ $(((size - used) * 100)) -lt $((size * 25)) ]; then
    echo "$ep ($role): $size bytes, $used used: left alone"
    continue
  fi
  [ -z "$pid" ] || kill -0 $pid || { echo "lost lock isolated-etcd/defrag" >&2; exit 1; }
  "${ctl[@]}" --endpoints=$ep --command-timeout=30m defrag
  check
  echo "$ep ($role): $size -> $(printf '%s\n' "${m[@]}" | grep "^$ep " | cut -d' ' -f4) bytes"
  n=$((n + 1))
done
echo "defragmented $n of ${#m[@]} members"
[ $nospace = 0 ] && exit
big=$(printf '%s\n' "${m[@]}" | awk '$4 * 100 >= 4294967296 * 80 {print $1 ": " $4}')
[ -z "$big" ] || { echo "NOSPACE stays: $big bytes of 4294967296; delete keys or raise quotaBackendMiB" >&2; exit 1; }
"${ctl[@]}" $here alarm disarm
echo "NOSPACE disarmed"
