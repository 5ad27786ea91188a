#!/bin/bash
# docs/operations.md: a member leaves before its machine is deleted.
set -uo pipefail
c=(/usr/bin/docker run --rm --network=host --volume=/etc/ssl/etcd:/etc/ssl/etcd:ro --entrypoint=/usr/local/bin/etcdctl quay.io/coreos/etcd:v3.6.16 --cacert=/etc/ssl/etcd/ca.crt --cert=/etc/ssl/etcd/member.crt --key=/etc/ssl/etcd/member.key --dial-timeout=2s --command-timeout=5s)
me=etcd-dev-central-0 self=https://10.21.0.10:2379 mark=/etc/etcd-left
refuse() { echo "$me stays a member, nothing changed: $*" >&2; exit 1; }
[ ! -e $mark ] || { echo "$me has left its cluster already ($mark)"; exit 0; }
# id, status, name, peer URLs, client URLs, learner; one line a member.
for n in 1 2 3; do
  l=$("${c[@]}" --endpoints=$self member list) && break
  [ $n -lt 3 ] || refuse "its own etcd does not answer"
  sleep 2
done
! grep -qE ', unstarted, |, true$' <<<"$l" || refuse "a member is a learner or not started: a membership change is in flight"
h=$("${c[@]}" --endpoints=$self endpoint health --cluster 2>&1) || refuse "not every member is healthy: $(grep -o '[^ ]* is unhealthy' <<<"$h" | head -2 | tr '\n' ' ')"
e=$(grep -F ", $me, " <<<"$l") || refuse "not in the member list"
[ "$(wc -l <<<"$l")" -gt 1 ] || refuse "the last member"
top=$(awk -F', ' '{n = $3; sub(/.*-/, "", n); print n, $3}' <<<"$l" | sort -n | tail -1 | cut -d' ' -f2)
[ "$top" = "$me" ] || refuse "$top is numbered higher: members leave from the highest down, as a lower centralCount deletes the highest-numbered machines"
o=$(grep -vF ", $me, " <<<"$l" | head -1)
IFS=', ' read -r to _ _ _ at _ <<<"$o"
s=$("${c[@]}" --endpoints=$self endpoint status -w fields) || refuse "its own status: $s"
if [ "$(awk '/^"MemberID" :/ {print $3}' <<<"$s")" = "$(awk '/^"Leader" :/ {print $3}' <<<"$s")" ]; then
  "${c[@]}" --endpoints=$self move-leader $to || refuse "it leads, and leadership did not move to $to"
  echo "$me led: leadership moved to $to"
fi
n=0
until r=$("${c[@]}" --endpoints=$at member remove ${e%%,*} 2>&1); do
  # etcd refuses, changing nothing, while a member has been connected for
  # less than its health interval (5 s), as after a restart.
  grep -q 'unhealthy cluster' <<<"$r" && [ $((n += 1)) -lt 8 ] || refuse "member remove ${e%%,*} via $at: $r"
  sleep 2
done
touch $mark
/usr/bin/systemctl stop etcd-member.service
echo "$me left: member ${e%%,*} removed via $at, etcd stopped, $mark keeps etcd-join from starting it again; delete the machine (lower centralCount)"
