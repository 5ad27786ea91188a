package components

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// maxCentral is the most central nodes a cluster may have.
const maxCentral = 7

// checkCounts checks the node counts and names the central nodes.
func (s *settings) checkCounts(name string) error {
	var errs []error
	if s.CentralCount < 1 || s.CentralCount > maxCentral || s.CentralCount%2 == 0 {
		errs = append(errs, fmt.Errorf("centralCount: %d is not allowed; want 1, 3, 5 or 7: etcd commits a write once a majority of voting members agree, so an even count adds a voter but no fault tolerance, and more than 7 slows every write", s.CentralCount))
	} else {
		for i := range s.CentralCount {
			s.centralNames = append(s.centralNames, CentralName(name, i))
		}
	}
	if s.RollCentral != "" && s.centralNames != nil && !slices.Contains(s.centralNames, s.RollCentral) {
		errs = append(errs, fmt.Errorf("rollCentral: %q is not a central node of this cluster; want one of %s", s.RollCentral, strings.Join(s.centralNames, ", ")))
	}
	if s.WorkerCount < 0 {
		errs = append(errs, fmt.Errorf("workerCount: %d is not allowed; want 0 or more", s.WorkerCount))
	}
	return errors.Join(errs...)
}

// chooseFlavor checks the flavor, its etcd line and the worker proxy they
// can run.
func (s *settings) chooseFlavor() error {
	if s.Flavor == "" {
		s.Flavor = string(cloudconfig.Flatcar)
	}
	flavor := cloudconfig.Flavor(s.Flavor)
	switch flavor {
	case cloudconfig.Flatcar:
		s.os = cloud.Flatcar
	case cloudconfig.CoreOSEtcd2:
		s.os = cloud.ContainerLinux
	default:
		// No worker proxy default either: one error, not a knock-on one.
		return fmt.Errorf("flavor: %q is not supported; want flatcar (default) or coreos-etcd2", s.Flavor)
	}
	if s.WorkerProxy == "" {
		s.WorkerProxy = string(flavor.DefaultWorkerProxy())
		if s.tls && flavor == cloudconfig.Flatcar {
			s.WorkerProxy = string(cloudconfig.GRPCProxy)
		}
	}
	errs := []error{s.chooseEtcdVersion(flavor)}
	switch proxy := cloudconfig.WorkerProxy(s.WorkerProxy); {
	case !slices.Contains(cloudconfig.WorkerProxies, proxy):
		errs = append(errs, fmt.Errorf("workerProxy: %q is not supported; want grpc-proxy (default on flatcar with tls), gateway (default on flatcar without tls) or v2-proxy", s.WorkerProxy))
	case !flavor.Supports(proxy):
		errs = append(errs, fmt.Errorf("workerProxy: %q is not available with flavor %s (etcd2 has only its v2 proxy); want v2-proxy, or leave it unset", s.WorkerProxy, s.Flavor))
	case proxy == cloudconfig.V2Proxy && flavor == cloudconfig.Flatcar && s.etcd().Release() != "" && !s.etcd().ServesV2():
		errs = append(errs, fmt.Errorf("workerProxy: %q needs etcdVersion 3.5: etcd %s removed the v2 proxy; want gateway", s.WorkerProxy, s.EtcdVersion))
	}
	return errors.Join(errs...)
}

// chooseEtcdVersion checks the etcd line, which only flatcar nodes take.
func (s *settings) chooseEtcdVersion(flavor cloudconfig.Flavor) error {
	if flavor != cloudconfig.Flatcar {
		if s.EtcdVersion != "" {
			return fmt.Errorf("etcdVersion: %q does not apply to flavor %s, whose nodes run their image's etcd2; leave it unset", s.EtcdVersion, s.Flavor)
		}
		return nil
	}
	if s.EtcdVersion == "" {
		s.EtcdVersion = string(DefaultEtcdVersion)
		if s.DiscoveryURL != "" {
			s.EtcdVersion = string(DiscoveryEtcdVersion)
		}
	}
	if s.etcd().Release() == "" {
		return fmt.Errorf("etcdVersion: %q is not supported; want 3.5, 3.6 (default) or 3.7", s.EtcdVersion)
	}
	return nil
}

// checkImageArg checks an image given as a value now, and one given as
// another resource's output when it resolves.
func (s *settings) checkImageArg() error {
	image, known := plainString(s.Image)
	switch {
	case !known:
		s.image = s.Image.ToStringOutput().ApplyT(func(v string) (string, error) { return v, s.checkImage(v) }).(pulumi.StringOutput)
	case image != "" || s.os == cloud.ContainerLinux:
		s.image = pulumi.String(image)
		return s.checkImage(image)
	}
	return nil
}

// checkPlacement checks the region and the machine sizes, defaulting the
// sizes to the cloud's.
func (s *settings) checkPlacement() error {
	var errs []error
	if s.provider != nil {
		errs = append(errs, s.provider.CheckRegion(s.Region))
		central, worker := s.provider.DefaultSizes()
		s.CentralSize = cmp.Or(s.CentralSize, central)
		s.WorkerSize = cmp.Or(s.WorkerSize, worker)
	}
	for key, size := range map[string]string{"centralSize": s.CentralSize, "workerSize": s.WorkerSize} {
		// Unset with an unknown cloud has no default: the cloud's error says it.
		if size != "" && !machineSize.MatchString(size) || size == "" && s.provider != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a machine size; want the cloud's name for one, such as t3.medium or s-2vcpu-4gb", key, size))
		}
	}
	return errors.Join(errs...)
}

// checkImage checks an image given as a value, or another resource's output
// once resolved. Unset is allowed except on coreos-etcd2; an output that
// resolves to "" is never an image.
func (s settings) checkImage(image string) error {
	switch {
	case image == "" && s.os == cloud.ContainerLinux:
		return errors.New("image: required with flavor coreos-etcd2; no etcd2 image is published any more, so pass the AMI or DigitalOcean image you still run")
	case s.provider == nil:
		return nil // An unknown cloud has no images; the cloud's error says so.
	}
	return s.provider.CheckImage(image)
}

// machineSize is the shape of every cloud's machine size names (t3.medium, s-2vcpu-4gb).
var machineSize = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
