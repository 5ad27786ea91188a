package cloudconfig

import (
	"bytes"
	"compress/gzip"
)

// Compact is user data in fewer bytes for a cloud that limits it (EC2:
// 16 KiB), read the same: coreos-cloudinit gunzips user data that starts
// with gzip's magic bytes (decompressIfGzip in flatcar/coreos-cloudinit).
// The gzip header holds no name or time, so the same user data always
// gives the same bytes and no needless diff.
func Compact(userData string) ([]byte, error) {
	var b bytes.Buffer
	z, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := z.Write([]byte(userData)); err != nil {
		return nil, err
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
