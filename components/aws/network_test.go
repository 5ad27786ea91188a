package aws

import (
	"net/netip"
	"slices"
	"testing"
)

func TestSubnetPrefixes(t *testing.T) {
	tests := []struct {
		vpc  string
		n    int
		want []string
	}{
		{"10.21.0.0/16", 3, []string{"10.21.0.0/20", "10.21.16.0/20", "10.21.32.0/20"}},
		{"10.21.0.0/16", 1, []string{"10.21.0.0/20"}},
		{"172.16.0.0/12", 2, []string{"172.16.0.0/16", "172.17.0.0/16"}},
		{"192.168.8.0/24", 3, []string{"192.168.8.0/28", "192.168.8.16/28", "192.168.8.32/28"}},
		{"10.0.0.0/8", 16, nil}, // checked by length only
	}
	for _, tt := range tests {
		got, err := subnetPrefixes(netip.MustParsePrefix(tt.vpc), tt.n)
		if err != nil {
			t.Errorf("subnetPrefixes(%s, %d): %v", tt.vpc, tt.n, err)
			continue
		}
		if len(got) != tt.n {
			t.Errorf("subnetPrefixes(%s, %d) = %d subnets", tt.vpc, tt.n, len(got))
		}
		if tt.want != nil && !slices.Equal(prefixStrings(got), tt.want) {
			t.Errorf("subnetPrefixes(%s, %d) = %v, want %v", tt.vpc, tt.n, got, tt.want)
		}
	}
}

func TestSubnetPrefixesRejects(t *testing.T) {
	tests := []struct {
		vpc string
		n   int
	}{
		{"10.21.0.0/25", 3},  // subnets would be /29, below AWS's /28
		{"10.21.1.0/16", 3},  // host bits set
		{"fd00::/56", 3},     // IPv6
		{"10.21.0.0/16", 17}, // more subnets than 4 bits give
	}
	for _, tt := range tests {
		if got, err := subnetPrefixes(netip.MustParsePrefix(tt.vpc), tt.n); err == nil {
			t.Errorf("subnetPrefixes(%s, %d) = %v, want an error", tt.vpc, tt.n, got)
		}
	}
}

func TestCentralIP(t *testing.T) {
	three := []netip.Prefix{
		netip.MustParsePrefix("10.21.0.0/20"),
		netip.MustParsePrefix("10.21.16.0/20"),
		netip.MustParsePrefix("10.21.32.0/20"),
	}
	one := three[:1]
	tests := []struct {
		subnets []netip.Prefix
		i       int
		want    string
	}{
		{three, 0, "10.21.0.10"},
		{three, 1, "10.21.16.10"},
		{three, 2, "10.21.32.10"},
		{three, 3, "10.21.0.11"},
		{three, 4, "10.21.16.11"},
		{three, 6, "10.21.0.12"},
		{one, 0, "10.21.0.10"},
		{one, 6, "10.21.0.16"},
		{[]netip.Prefix{netip.MustParsePrefix("10.21.0.240/28")}, 4, "10.21.0.254"},
	}
	for _, tt := range tests {
		got, err := centralIP(tt.subnets, tt.i)
		if err != nil || got.String() != tt.want {
			t.Errorf("centralIP(%v, %d) = %v, %v; want %s", tt.subnets, tt.i, got, err, tt.want)
		}
	}
	// The last address of a subnet is reserved by AWS.
	if got, err := centralIP([]netip.Prefix{netip.MustParsePrefix("10.21.0.240/28")}, 5); err == nil {
		t.Errorf("centralIP(/28, 5) = %v, want an error", got)
	}
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
