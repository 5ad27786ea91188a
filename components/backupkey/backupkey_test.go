package backupkey_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/isolatedetcd/cluster/components/backupkey"
)

// TestDerive: the same secret gives the same pair, another secret another;
// age itself parses the identity (its bech32 checksum included) and what
// is encrypted to the recipient decrypts with the identity only.
func TestDerive(t *testing.T) {
	secretA := "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIOa...a\n-----END EC PRIVATE KEY-----\n"
	secretB := strings.Replace(secretA, "...a", "...b", 1)
	idA, recA, err := backupkey.Derive(secretA)
	if err != nil {
		t.Fatal(err)
	}
	idA2, recA2, err := backupkey.Derive(secretA)
	if err != nil || idA2 != idA || recA2 != recA {
		t.Fatalf("the same secret gave %s %s, then %s %s (%v)", idA, recA, idA2, recA2, err)
	}
	idB, recB, err := backupkey.Derive(secretB)
	if err != nil || idB == idA || recB == recA {
		t.Fatalf("two secrets gave %s and %s (%v)", idA, idB, err)
	}
	for _, tc := range []struct {
		identity string
		decrypts bool
	}{{idA, true}, {idB, false}} {
		id, err := age.ParseX25519Identity(tc.identity)
		if err != nil {
			t.Fatalf("age refuses %s: %v", tc.identity, err)
		}
		if got := id.Recipient().String(); (got == recA) != tc.decrypts {
			t.Errorf("identity's recipient %s, derived recipient %s", got, recA)
		}
		r, err := age.ParseX25519Recipient(recA)
		if err != nil {
			t.Fatal(err)
		}
		var sealed bytes.Buffer
		w, err := age.Encrypt(&sealed, r)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(w, "snapshot")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		_, err = age.Decrypt(&sealed, id)
		if (err == nil) != tc.decrypts {
			t.Errorf("decrypt with %s: %v, want decrypts %v", tc.identity[:20], err, tc.decrypts)
		}
	}
	if _, _, err := backupkey.Derive("short"); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("a short secret: %v", err)
	}
}
