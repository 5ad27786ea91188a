package components

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"golang.org/x/crypto/ssh"
)

// checkAccess checks who and what may reach the nodes: the discovery URL,
// the SSH keys (now, or when they resolve) and the SSH source blocks.
func (s *settings) checkAccess() error {
	var errs []error
	if !s.static() {
		errs = append(errs, checkDiscoveryURL(s.DiscoveryURL))
	}
	if keys, known := plainStrings(s.SSHAuthorizedKeys); known {
		errs = append(errs, checkSSHKeys(keys))
		s.sshKeys = pulumi.ToStringArray(keys).ToStringArrayOutput()
	} else {
		s.sshKeys = s.SSHAuthorizedKeys.ToStringArrayOutput().ApplyT(func(keys []string) ([]string, error) {
			return keys, checkSSHKeys(keys)
		}).(pulumi.StringArrayOutput)
	}
	for i, c := range s.SSHAllowedCidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil || p != p.Masked() {
			errs = append(errs, fmt.Errorf("sshAllowedCidrs[%d]: %q is not a CIDR block; want a network address and prefix such as 203.0.113.0/24 or 2001:db8::/32", i, c))
		}
	}
	return errors.Join(errs...)
}

// checkNetwork checks the private network and the tags.
func (s *settings) checkNetwork() error {
	var errs []error
	s.VpcCidr = cmp.Or(s.VpcCidr, DefaultVpcCidr)
	if p, err := netip.ParsePrefix(s.VpcCidr); err != nil || p != p.Masked() || !p.Addr().Is4() || !p.Addr().IsPrivate() || p.Bits() < 16 || p.Bits() > 24 {
		errs = append(errs, fmt.Errorf("vpcCidr: %q is not allowed; want a private IPv4 network from /16 to /24, such as %s", s.VpcCidr, DefaultVpcCidr))
	}
	for k, v := range s.Tags {
		if k == "" || strings.HasPrefix(k, reservedTagPrefix) || len(k) > 128 || len(v) > 256 {
			errs = append(errs, fmt.Errorf("tags: key %q (value %q) is not allowed; want a non-empty key of up to 128 characters not starting with %q, and a value of up to 256", k, v, reservedTagPrefix))
		}
	}
	return errors.Join(errs...)
}

// checkSSHKeys accepts exactly one OpenSSH public key per entry.
func checkSSHKeys(keys []string) error {
	var errs []error
	for i, k := range keys {
		if _, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil || len(strings.TrimSpace(string(rest))) > 0 || strings.ContainsAny(k, "\r\n") {
			errs = append(errs, fmt.Errorf("sshAuthorizedKeys[%d]: %q is not one OpenSSH public key; want a line such as \"ssh-ed25519 AAAA... user@host\"", i, abbreviate(k)))
		}
	}
	return errors.Join(errs...)
}

// reservedTagPrefix marks the tags the program sets itself.
const reservedTagPrefix = "isolated-etcd:"
