package ignition_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	ign "github.com/coreos/ignition/v2/config/v3_4"
	"github.com/vincent-petithory/dataurl"

	"github.com/isolatedetcd/cluster/components/ignition"
)

// TestCompact: every golden, compacted, is a config Ignition's own parser
// takes without a report entry, whose replace Ignition decompresses back to
// the golden byte for byte, in fewer bytes.
func TestCompact(t *testing.T) {
	goldens, err := filepath.Glob("testdata/*.ign")
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no goldens: %v", err)
	}
	for _, golden := range goldens {
		t.Run(filepath.Base(golden), func(t *testing.T) {
			pretty, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			// User data is compact JSON, as Butane writes it.
			var b bytes.Buffer
			if err := json.Compact(&b, pretty); err != nil {
				t.Fatal(err)
			}
			config := b.String()
			compact, err := ignition.Compact(config)
			if err != nil {
				t.Fatal(err)
			}
			cfg, report, err := ign.Parse([]byte(compact))
			if err != nil || len(report.Entries) != 0 {
				t.Fatalf("Ignition refuses the compacted config: %v %v", err, report)
			}
			if r := cfg.Ignition.Config.Replace; r.Source == nil || r.Compression == nil || *r.Compression != "gzip" {
				t.Fatalf("replace = %+v, want a gzipped source", r)
			}
			// What Ignition fetches of the replace: a data URL, decoded by
			// the parser Ignition uses, then gunzipped.
			u, err := dataurl.DecodeString(*cfg.Ignition.Config.Replace.Source)
			if err != nil {
				t.Fatal(err)
			}
			z, err := gzip.NewReader(bytes.NewReader(u.Data))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(z)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != config {
				t.Errorf("the replace decompresses to %d bytes other than the %d of the config", len(got), len(config))
			}
			if expanded, err := ignition.Expanded(compact); err != nil || expanded != config {
				t.Errorf("Expanded gives %d bytes (%v), want the config", len(expanded), err)
			}
			if same, err := ignition.Expanded(config); err != nil || same != config {
				t.Errorf("Expanded of an uncompacted config gives %d bytes (%v), want it as it is", len(same), err)
			}
			if len(compact) >= len(config) {
				t.Errorf("compacted %d bytes, not fewer than %d", len(compact), len(config))
			}
		})
	}
	if _, err := ignition.Compact("#cloud-config\n"); err == nil {
		t.Error("Compact took a cloud-config")
	}
}
