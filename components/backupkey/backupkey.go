// Package backupkey derives a cluster's age backup identity from a secret
// the stack already keeps: the same secret gives the same identity on every
// update, so nothing but the stack's state holds it.
package backupkey

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"strings"

	"filippo.io/age"
)

// Derive is the age X25519 identity whose scalar is HKDF-SHA-256 of
// secret, and its recipient. secret is at least 32 bytes of a key the
// stack keeps secret (a private key's PEM).
func Derive(secret string) (identity, recipient string, err error) {
	if len(secret) < 32 {
		return "", "", fmt.Errorf("backupkey: a secret of %d bytes is too short to derive a key from", len(secret))
	}
	scalar, err := hkdf.Key(sha256.New, []byte(secret), nil, "isolatedetcd backup age identity", 32)
	if err != nil {
		return "", "", err
	}
	id, err := age.ParseX25519Identity(strings.ToUpper(bech32("age-secret-key-", scalar)))
	if err != nil {
		return "", "", fmt.Errorf("backupkey: %w", err)
	}
	return id.String(), id.Recipient().String(), nil
}

// bech32 encodes data under hrp as BIP 173 has it, the encoding age's keys
// use; age's own encoder is internal to its module.
func bech32(hrp string, data []byte) string {
	const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	// data as 5-bit groups, the last padded with zeros.
	var groups []byte
	acc, bits := 0, 0
	for _, b := range data {
		acc, bits = acc<<8|int(b), bits+8
		for bits >= 5 {
			bits -= 5
			groups = append(groups, byte(acc>>bits&31))
		}
	}
	if bits > 0 {
		groups = append(groups, byte(acc<<(5-bits)&31))
	}
	values := make([]byte, 0, 2*len(hrp)+1+len(groups)+6)
	for _, c := range []byte(hrp) {
		values = append(values, c>>5)
	}
	values = append(values, 0)
	for _, c := range []byte(hrp) {
		values = append(values, c&31)
	}
	values = append(values, groups...)
	values = append(values, 0, 0, 0, 0, 0, 0)
	mod := polymod(values) ^ 1
	out := []byte(hrp + "1")
	for _, g := range groups {
		out = append(out, charset[g])
	}
	for i := range 6 {
		out = append(out, charset[mod>>(5*(5-i))&31])
	}
	return string(out)
}

// polymod is BIP 173's checksum function.
func polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range 5 {
			if top>>i&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}
