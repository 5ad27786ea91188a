package ignition

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// Compact is config in fewer bytes for a cloud that limits user data (EC2:
// 16 KiB), read the same: a config of the same spec version whose
// ignition.config.replace is config itself, gzipped, as a data URL. Ignition
// reads user data as it comes (on AWS it gunzips none), so the compression
// has to be inside the config; Butane already compresses the large files,
// and this compresses the rest (units, paths, the JSON itself).
func Compact(config string) (string, error) {
	var inner struct {
		Ignition struct{ Version string } `json:"ignition"`
	}
	if err := json.Unmarshal([]byte(config), &inner); err != nil || inner.Ignition.Version == "" {
		return "", fmt.Errorf("ignition: compact: not an Ignition config (%v)", err)
	}
	// The same gzip stream coreos-cloudinit would read.
	z, err := cloudconfig.Compact(config)
	if err != nil {
		return "", err
	}
	var outer struct {
		Ignition struct {
			Version string `json:"version"`
			Config  struct {
				Replace struct {
					Compression string `json:"compression"`
					Source      string `json:"source"`
				} `json:"replace"`
			} `json:"config"`
		} `json:"ignition"`
	}
	outer.Ignition.Version = inner.Ignition.Version
	outer.Ignition.Config.Replace.Compression = "gzip"
	outer.Ignition.Config.Replace.Source = "data:;base64," + base64.StdEncoding.EncodeToString(z)
	b, err := json.Marshal(outer)
	return string(b), err
}

// Expanded is the config Ignition reads of one Compact made: the config its
// replace holds; any other config as it is.
func Expanded(config string) (string, error) {
	var outer struct {
		Ignition struct {
			Config struct {
				Replace struct{ Compression, Source string }
			}
		}
	}
	if err := json.Unmarshal([]byte(config), &outer); err != nil {
		return "", fmt.Errorf("ignition: expand: %w", err)
	}
	r := outer.Ignition.Config.Replace
	if r.Source == "" {
		return config, nil
	}
	data, ok := strings.CutPrefix(r.Source, "data:;base64,")
	if !ok || r.Compression != "gzip" {
		return "", fmt.Errorf("ignition: expand: a replace from %.40q, compression %q; want a gzipped data URL, as Compact makes", r.Source, r.Compression)
	}
	z, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return "", fmt.Errorf("ignition: expand: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return "", fmt.Errorf("ignition: expand: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return "", fmt.Errorf("ignition: expand: %w", err)
	}
	return string(b), nil
}
