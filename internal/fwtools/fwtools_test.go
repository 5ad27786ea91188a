package fwtools_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/isolatedetcd/cluster/internal/fwtools"
)

// TestGet: each tool the nodes' firewalls run is found or fetched, and
// runs here with what it needs (the fetched libraries, iptables' own
// extensions); iptables is the legacy one Container Linux ran.
func TestGet(t *testing.T) {
	if testing.Short() {
		t.Skip("fetches Debian packages on first use")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for name, want := range map[string]string{"nft": "nftables v", "iptables-legacy": "(legacy)", "ip6tables-legacy": "(legacy)"} {
		tool, err := fwtools.Get(ctx, name, func(s string) { t.Log(s) })
		if err != nil {
			t.Fatal(err)
		}
		out, err := tool.Command(ctx, "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("%s --version: %v: %s, want %q", tool.Path, err, out, want)
		}
		t.Logf("%s: %s", tool.Path, strings.TrimSpace(string(out)))
	}
	if _, err := fwtools.Get(ctx, "ufw", nil); err == nil || !strings.Contains(err.Error(), `no tool "ufw"`) {
		t.Errorf("an unknown tool: %v", err)
	}
}
