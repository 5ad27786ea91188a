package components

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// Housekeeping defaults and bounds.
const (
	// DefaultCompactionRetention is the history members keep: half an hour
	// lets a watcher that lost its connection (a proxy restart, a network
	// blip, a roll) resume where it was, and bounds the history a steady
	// writer piles up to what it writes in that time. etcd-druid's default.
	DefaultCompactionRetention = "30m"
	MinCompactionRetention     = time.Second
	MaxCompactionRetention     = 24 * time.Hour
	// The data volume holds the database, the copy a defragmentation
	// writes of it, and about 1 GiB of WAL and raft snapshots; etcd's own
	// guidance caps the quota at 8 GiB. On the 10 GiB volume that is
	// 4.5 GiB at most, and 4 GiB by default.
	DefaultQuotaBackendMiB = 4096
	MinQuotaBackendMiB     = 16
	MaxQuotaBackendMiB     = min(8192, (cloud.DataVolumeGiB-1)*1024/2)
)

// chooseHousekeeping applies the compaction and quota defaults and checks
// them and the monitoring sources. coreos-etcd2's etcd2 has no v3
// compaction or quota to set.
func (s *settings) chooseHousekeeping() error {
	var errs []error
	etcd2 := s.Flavor == string(cloudconfig.CoreOSEtcd2)
	switch {
	case etcd2 && s.CompactionRetention != "":
		errs = append(errs, fmt.Errorf("compactionRetention: %q does not apply to flavor coreos-etcd2, whose etcd2 keeps no v3 history; leave it unset", s.CompactionRetention))
	case !etcd2:
		s.CompactionRetention = cmp.Or(strings.TrimSpace(s.CompactionRetention), DefaultCompactionRetention)
		if d, err := time.ParseDuration(s.CompactionRetention); err != nil || d < MinCompactionRetention || d > MaxCompactionRetention {
			errs = append(errs, fmt.Errorf("compactionRetention: %q is not allowed; want a duration from %s to %s such as 30m or 2h (default %s): members keep that much history, and compact older revisions", s.CompactionRetention, MinCompactionRetention, MaxCompactionRetention, DefaultCompactionRetention))
		}
	}
	switch {
	case etcd2 && s.QuotaBackendMiB != 0:
		errs = append(errs, fmt.Errorf("quotaBackendMiB: %d does not apply to flavor coreos-etcd2, whose etcd2 has no backend quota; leave it unset", s.QuotaBackendMiB))
	case !etcd2:
		s.QuotaBackendMiB = cmp.Or(s.QuotaBackendMiB, DefaultQuotaBackendMiB)
		if s.QuotaBackendMiB < MinQuotaBackendMiB || s.QuotaBackendMiB > MaxQuotaBackendMiB {
			errs = append(errs, fmt.Errorf("quotaBackendMiB: %d is not allowed; want %d to %d MiB (default %d): the %d GiB data volume must hold the database, a defragmentation's copy of it and the WAL", s.QuotaBackendMiB, MinQuotaBackendMiB, MaxQuotaBackendMiB, DefaultQuotaBackendMiB, cloud.DataVolumeGiB))
		}
	}
	for i, c := range s.MonitoringCidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil || p != p.Masked() {
			errs = append(errs, fmt.Errorf("monitoringCidrs[%d]: %q is not a CIDR block; want a network address and prefix such as 10.30.0.0/24 or 2001:db8::/48", i, c))
		}
	}
	if s.provider != nil {
		errs = append(errs, s.provider.CheckMonitoringGroups(s.MonitoringGroups))
	}
	return errors.Join(errs...)
}

// housekeeping is what flatcar members keep their databases bounded with.
func (s settings) housekeeping() cloudconfig.Housekeeping {
	if s.os != cloud.Flatcar {
		return cloudconfig.Housekeeping{}
	}
	return cloudconfig.Housekeeping{CompactionRetention: s.CompactionRetention, QuotaBytes: int64(s.QuotaBackendMiB) << 20}
}

// ports are the ports the firewalls open: the metrics port on workers only
// where their proxy serves metrics (grpc-proxy; the gateway forwards TCP).
func (s settings) ports() cloud.Ports {
	p := cloud.Ports{Client: cloudconfig.ClientPort, Peer: cloudconfig.PeerPort}
	if s.os == cloud.Flatcar {
		p.Metrics = cloudconfig.MetricsPort
		if s.WorkerProxy == string(cloudconfig.GRPCProxy) {
			p.WorkerMetrics = cloudconfig.MetricsPort
		}
	}
	return p
}
