package cloudconfig_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// TestCompact: every golden, compacted, starts with gzip's magic bytes (what
// coreos-cloudinit's decompressIfGzip looks for), gunzips back to the
// golden, in fewer bytes, and the same each time.
func TestCompact(t *testing.T) {
	goldens, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no goldens: %v", err)
	}
	for _, golden := range goldens {
		b, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		compact, err := cloudconfig.Compact(string(b))
		if err != nil {
			t.Fatal(err)
		}
		again, _ := cloudconfig.Compact(string(b))
		if !bytes.HasPrefix(compact, []byte{0x1f, 0x8b}) || len(compact) >= len(b) || !bytes.Equal(compact, again) {
			t.Errorf("%s: %d bytes compacted from %d, magic %x, the same again %v", golden, len(compact), len(b), compact[:2], bytes.Equal(compact, again))
		}
		z, err := gzip.NewReader(bytes.NewReader(compact))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(z); err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s: gunzips to %d bytes, %v; want the golden", golden, len(got), err)
		}
	}
}
