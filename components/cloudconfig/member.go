package cloudconfig

import "strings"

// MemberUnit runs etcd on central nodes and v2-proxy workers: a unit this
// project renders, so that nothing depends on the OS shipping Flatcar's
// etcd-member wrapper. It keeps the wrapper's name, so that the OS's unit
// of that name, where an image still ships one, is overridden, and the
// backup, defrag, restore and auth units and the drop-ins of
// docs/operations.md apply unchanged.
const MemberUnit = "etcd-member.service"

// MemberEnvFile is where the member's unit writes its ETCD_* environment
// for docker, readable by root only: a discovery URL is a secret.
const MemberEnvFile = "/run/etcd-member.env"

// EtcdUser is the etcd user's uid:gid in Flatcar's base layout, which the
// member's container runs as (the image has no etcd user to name).
const EtcdUser = "232:232"

// member is what the member unit's template renders.
type member struct{ Name, DataDir, SSLDir, EnvFile, UID, GID string }

func memberUnit() member {
	uid, gid, _ := strings.Cut(EtcdUser, ":")
	return member{Name: MemberUnit, DataDir: Flatcar.DataDir(), SSLDir: WrapperSSLDir, EnvFile: MemberEnvFile, UID: uid, GID: gid}
}
