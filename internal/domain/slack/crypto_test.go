package slack

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

const testURL = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"

func testKey(t *testing.T) []byte {
	t.Helper()
	b64, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParseKey(b64)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func testKeyring(t *testing.T, current []byte, old ...[]byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(current, old...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0xfb}, 32)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		got, err := ParseKey(" " + enc.EncodeToString(key) + "\n")
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseKey = %x, %v", got, err)
		}
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 16)), base64.StdEncoding.EncodeToString(make([]byte, 33))} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	t.Parallel()
	k := testKeyring(t, testKey(t))
	c1, v1, err := k.Encrypt(testURL)
	if err != nil {
		t.Fatal(err)
	}
	c2, v2, err := k.Encrypt(testURL)
	if err != nil {
		t.Fatal(err)
	}
	if v1 != k.Current() || v2 != v1 || v1 <= 0 {
		t.Errorf("versions %d, %d; current %d", v1, v2, k.Current())
	}
	if c1 == c2 {
		t.Error("two encryptions of the same URL are equal; nonce reused")
	}
	if strings.Contains(c1, "XXXXXXXX") {
		t.Error("ciphertext contains the plaintext")
	}
	raw, err := base64.StdEncoding.DecodeString(c1)
	if err != nil || len(raw) != 12+len(testURL)+16 {
		t.Errorf("stored form: %d bytes, %v", len(raw), err)
	}
	for _, c := range []string{c1, c2} {
		got, err := k.Decrypt(c, v1)
		if err != nil || got != testURL {
			t.Errorf("Decrypt = %q, %v", got, err)
		}
	}
}

func TestDecryptTampered(t *testing.T) {
	t.Parallel()
	k := testKeyring(t, testKey(t))
	c, v, err := k.Encrypt(testURL)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(c)
	for i := range raw {
		tampered := bytes.Clone(raw)
		tampered[i] ^= 0x01
		if _, err := k.Decrypt(base64.StdEncoding.EncodeToString(tampered), v); err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
	}
	for _, bad := range []string{"", "!!", base64.StdEncoding.EncodeToString(raw[:20])} {
		if _, err := k.Decrypt(bad, v); err == nil {
			t.Errorf("Decrypt(%q) succeeded", bad)
		}
	}
}

func TestDecryptWrongVersion(t *testing.T) {
	t.Parallel()
	a, b := testKey(t), testKey(t)
	k := testKeyring(t, a, b)
	c, v, err := k.Encrypt(testURL)
	if err != nil {
		t.Fatal(err)
	}
	if v != KeyVersion(a) {
		t.Fatalf("encrypted with version %d, want current %d", v, KeyVersion(a))
	}
	if _, err := k.Decrypt(c, KeyVersion(b)); err == nil {
		t.Error("decrypted under the other key's version")
	}
	unknown := 1
	for unknown == KeyVersion(a) || unknown == KeyVersion(b) {
		unknown++
	}
	if _, err := k.Decrypt(c, unknown); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("unknown version: %v, want ErrUnknownKeyVersion", err)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := testKey(t), testKey(t)
	before := testKeyring(t, oldKey)
	c, v, err := before.Encrypt(testURL)
	if err != nil {
		t.Fatal(err)
	}

	// During rotation: new key current, old key kept for decryption.
	during := testKeyring(t, newKey, oldKey)
	if got, err := during.Decrypt(c, v); err != nil || got != testURL {
		t.Fatalf("old row under rotating keyring: %q, %v", got, err)
	}
	c2, v2, err := during.Rotate(c, v)
	if err != nil {
		t.Fatal(err)
	}
	if v2 != KeyVersion(newKey) || v2 == v {
		t.Fatalf("rotated to version %d, want %d", v2, KeyVersion(newKey))
	}

	// After rotation: the old key is gone.
	after := testKeyring(t, newKey)
	if got, err := after.Decrypt(c2, v2); err != nil || got != testURL {
		t.Fatalf("rotated row: %q, %v", got, err)
	}
	if _, err := after.Decrypt(c, v); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("old row after rotation: %v, want ErrUnknownKeyVersion", err)
	}
}

func TestKeyringRejectsBadKeys(t *testing.T) {
	t.Parallel()
	if _, err := NewKeyring(make([]byte, 16)); err == nil {
		t.Error("accepted a 16-byte key")
	}
	if _, err := NewKeyring(testKey(t), []byte("short")); err == nil {
		t.Error("accepted a short old key")
	}
	if KeyVersion(bytes.Repeat([]byte{1}, 32)) != KeyVersion(bytes.Repeat([]byte{1}, 32)) {
		t.Error("KeyVersion is not stable")
	}
}
