package nodescript

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// Where the pinned images keep their tools.
const (
	etcdctlEntrypoint = "/usr/local/bin/etcdctl"
	etcdutlEntrypoint = "/usr/local/bin/etcdutl"
)

// containerPath is PATH in the pinned images.
const containerPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// q quotes s for bash.
func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// shim is the docker the node's scripts find at /usr/bin/docker: it
// interprets only the `docker run` the scripts use, runs the image's tool
// built here with only the env-file's environment, and fails naming
// anything else. addr is the node's loopback address, home and noConfig a
// directory for HOME and a file that does not exist, for RCLONE_CONFIG.
func shim(t Tools, addr, home, noConfig string) string {
	type image struct{ key, tool, bin string }
	var images []image
	for _, r := range slices.Sorted(maps.Keys(t.Etcdctl)) {
		images = append(images, image{cloudconfig.EtcdImageRepo + ":" + r + " " + etcdctlEntrypoint, "etcdctl", t.Etcdctl[r]})
	}
	for _, r := range slices.Sorted(maps.Keys(t.Etcdutl)) {
		images = append(images, image{cloudconfig.EtcdImageRepo + ":" + r + " " + etcdutlEntrypoint, "etcdutl", t.Etcdutl[r]})
	}
	if t.Rclone != "" {
		images = append(images, image{cloudconfig.RcloneImage + " ", "rclone", t.Rclone})
	}
	if t.Age != "" {
		images = append(images, image{cloudconfig.Age.Image + " ", "go", t.Age})
	}
	var cases, known strings.Builder
	for _, im := range images {
		fmt.Fprintf(&cases, "%s) tool=%s bin=%s ;;\n", q(im.key), im.tool, q(im.bin))
		fmt.Fprintf(&known, " [%s]", strings.TrimSpace(im.key))
	}
	goInstall := "install " + cloudconfig.Age.Package + "@" + cloudconfig.Age.Version
	return fmt.Sprintf(shimText, q(addr), q(home), q(noConfig), q(containerPath), cases.String(), q(known.String()), q(goInstall))
}

const shimText = `#!/bin/bash
# docker as nodescript interprets it: ` + "`docker run`" + ` of a pinned image's tool,
# built on this machine, and nothing else.
set -euo pipefail
addr=%s home=%s noconfig=%s cpath=%s
die() { echo "docker (nodescript shim): $*" >&2; exit 125; }
[ $# -ge 1 ] && [ "$1" = run ] || die "only docker run is interpreted, not: docker $*"
shift
hostnet=0 entrypoint= envfile= image= nenv=0
vols=() rovols=() flagenvs=()
while [ $# -gt 0 ]; do
  a=$1
  case $a in
  --rm) ;;
  --network=host) hostnet=1 ;;
  # Root, as the shim runs every tool; the scripts say so where it matters
  # (only root on a node reaches the metadata service).
  --user=0:0) ;;
  --volume=*)
    IFS=: read -r -a p <<<"${a#--volume=}"
    if ! { [ ${#p[@]} -eq 2 ] || { [ ${#p[@]} -eq 3 ] && [ "${p[2]}" = ro ]; }; }; then
      die "$a: only --volume=SRC:DST or --volume=SRC:DST:ro is interpreted"
    fi
    if [ "${p[0]}" != "${p[1]}" ] || [[ ${p[0]} != /* ]]; then
      die "$a: only a node path mounted at the same path (SRC = DST, absolute) is interpreted"
    fi
    [ -e "${p[0]}" ] || die "$a: ${p[0]} does not exist on the node"
    vols+=("${p[0]}")
    if [ ${#p[@]} -eq 3 ]; then rovols+=("${p[0]}"); fi ;;
  --env=*)
    [[ ${a#--env=} =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "$a: only --env=NAME=value is interpreted"
    flagenvs+=("${a#--env=}") ;;
  --env-file=*)
    nenv=$((nenv + 1))
    [ $nenv -eq 1 ] || die "$a: only one --env-file is interpreted"
    envfile=${a#--env-file=} ;;
  --entrypoint=*) entrypoint=${a#--entrypoint=} ;;
  -*) die "flag $a is not one the shim interprets (--rm, --network=host, --user=0:0, --volume=SRC:DST[:ro], --env=NAME=value, --env-file=F, --entrypoint=P)" ;;
  *) image=$a; shift; break ;;
  esac
  shift
done
[ -n "$image" ] || die "no image"
tool= bin=
case "$image $entrypoint" in
%s*) die "image $image with entrypoint ${entrypoint:-(the image default)}: not one the shim knows; it knows"%s ;;
esac

envs=()
if [ -n "$envfile" ]; then
  [ -f "$envfile" ] || die "--env-file=$envfile: no such file on the node"
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line#"${line%%%%[![:space:]]*}"}
    case $line in ''|'#'*) continue ;; esac
    [[ $line =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env-file=$envfile: a line is not NAME=value: $line"
    envs+=("$line")
  done <"$envfile"
fi

envs+=("${flagenvs[@]}")

# The Go image: only the go install of the age a node builds, which puts
# the age built here (the same module and version) where GOBIN says.
if [ "$tool" = go ]; then
  [ "$*" = "go "%[7]s ] || die "image $image: only go "%[7]s" is interpreted, not: $*"
  gobin=
  for e in "${envs[@]}"; do case $e in GOBIN=*) gobin=${e#GOBIN=} ;; esac; done
  seen=0
  for v in "${vols[@]}"; do [ "$gobin" != "$v" ] || seen=1; done
  [ -n "$gobin" ] && [ $seen = 1 ] || die "go install: GOBIN=$gobin is not a --volume, so the binary would stay in the container"
  exec install -m 0755 "$bin" "$gobin/age"
fi

args=()
for a in "$@"; do
  if [ "$tool" = etcdctl ]; then
    case $a in
    --endpoints=*)
      out=
      IFS=, read -r -a eps <<<"${a#--endpoints=}"
      # 127.0.0.1 is the node itself; another host (a member the script
      # found in the member list) is reached as it is.
      for e in "${eps[@]}"; do
        [[ $e =~ ^(https?)://([A-Za-z0-9.-]+):([0-9]+)$ ]] || die "$a: only endpoints http(s)://host:port are interpreted, not $e"
        h=${BASH_REMATCH[2]}
        [ "$h" != 127.0.0.1 ] || h=$addr
        out+=${out:+,}${BASH_REMATCH[1]}://$h:${BASH_REMATCH[3]}
      done
      a=--endpoints=$out ;;
    --endpoints) die "--endpoints VALUE: only --endpoints=VALUE is interpreted" ;;
    esac
  fi
  path=
  case $a in /*) path=$a ;; -*=/*) path=${a#*=} ;; esac
  if [ -n "$path" ]; then
    seen=0
    for v in "${vols[@]}"; do case $path in "$v"|"$v"/*) seen=1 ;; esac; done
    [ $seen = 1 ] || die "$a: $path is outside every --volume, so the container would not see it"
  fi
  args+=("$a")
done

# The container: read-only volumes read-only, no network without
# --network=host, only the env-file's environment.
ns=(--mount)
[ $hostnet = 1 ] || ns+=(--net)
cd /
exec unshare "${ns[@]}" -- bash -c '
set -e
n=$1; shift
for ((i = 0; i < n; i++)); do
  mount -n --bind "$1" "$1"
  mount -n -o remount,bind,ro "$1"
  shift
done
exec "$@"' - ${#rovols[@]} "${rovols[@]}" \
  env -i "HOME=$home" "PATH=$cpath" "${envs[@]}" "RCLONE_CONFIG=$noconfig" "$bin" "${args[@]}" </dev/null
`
