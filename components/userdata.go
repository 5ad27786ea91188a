package components

import (
	"fmt"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/components/ignition"
)

// Config formats: what the nodes' user data is.
const (
	// FormatCloudConfig is #cloud-config, read by Flatcar's coreos-cloudinit
	// at every boot: the legacy path, and what every cluster made before
	// configFormat runs.
	FormatCloudConfig = "cloud-config"
	// FormatIgnition is an Ignition config, applied once before the
	// machine's first real boot, with etcd run by the project's own unit.
	FormatIgnition = "ignition"
)

// DefaultConfigFormat is what an unset configFormat means. It stays
// cloud-config: an unset key cannot tell a new stack from one made before
// the key existed, and those keep the format their machines were made
// with (docs/ignition.md says how to switch, one roll at a time).
const DefaultConfigFormat = FormatCloudConfig

// chooseConfigFormat checks the format of the nodes' user data.
func (s *settings) chooseConfigFormat() error {
	if s.ConfigFormat == "" {
		s.ConfigFormat = DefaultConfigFormat
	}
	switch {
	case s.ConfigFormat != FormatCloudConfig && s.ConfigFormat != FormatIgnition:
		return fmt.Errorf("configFormat: %q is not supported; want %s (default) or %s", s.ConfigFormat, FormatCloudConfig, FormatIgnition)
	case s.ConfigFormat == FormatIgnition && s.Flavor != string(cloudconfig.Flatcar):
		return fmt.Errorf("configFormat: %q is rendered for flavor flatcar only; flavor %s is the seed's etcd2 cloud-config; want %s", s.ConfigFormat, s.Flavor, FormatCloudConfig)
	case s.ConfigFormat == FormatIgnition && ignition.AddressVars[s.Cloud] == "" && s.provider != nil:
		return fmt.Errorf("configFormat: %q does not know where Flatcar's metadata agent puts a node's address on %s; want %s", s.ConfigFormat, s.Cloud, FormatCloudConfig)
	}
	return nil
}

// centralUserData renders central node's user data in the stack's format.
func (s settings) centralUserData(c cloudconfig.Settings, node, device string) (string, error) {
	if s.ConfigFormat == FormatIgnition {
		return ignition.Central(c, ignition.AddressVars[s.Cloud], node, device)
	}
	return c.Central(node, device)
}

// workerUserData renders the workers' user data in the stack's format.
func (s settings) workerUserData(c cloudconfig.Settings, endpoints []string) (string, error) {
	if s.ConfigFormat == FormatIgnition {
		return ignition.Worker(c, ignition.AddressVars[s.Cloud], endpoints)
	}
	return c.Worker(endpoints)
}

// compactUserData is user data in fewer bytes that the nodes read the same,
// in the stack's format.
func (s settings) compactUserData(userData string) ([]byte, error) {
	if s.ConfigFormat == FormatIgnition {
		c, err := ignition.Compact(userData)
		return []byte(c), err
	}
	return cloudconfig.Compact(userData)
}
