package slack

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Webhook URLs are stored encrypted with AES-256-GCM.
//
// Stored format: two columns per URL,
//
//	webhook_url_enc  text     base64 (standard, padded) of nonce || ciphertext+tag,
//	                          with a random 12-byte nonce per encryption
//	key_version      integer  KeyVersion of the key that encrypted it
//
// The additional authenticated data is "ottr/slack-webhook/v<key_version>",
// so a ciphertext cannot be decrypted under another version number.
//
// A key's version is derived from the key itself (see KeyVersion), so the
// configuration needs nothing but the base64 keys. To rotate, start with
// the new key as current and the old one still in the keyring, re-encrypt
// every row whose key_version is not Keyring.Current (Keyring.Rotate),
// then drop the old key.

// KeySize is the length of an encryption key in bytes.
const KeySize = 32

// ErrUnknownKeyVersion is returned when decrypting with a key version the
// keyring does not hold.
var ErrUnknownKeyVersion = errors.New("unknown encryption key version")

// Keyring encrypts with its current key and decrypts with any key it
// holds. Create it with NewKeyring; it is safe for concurrent use.
type Keyring struct {
	current int
	aeads   map[int]cipher.AEAD
}

// ParseKey decodes a base64 key (standard or URL alphabet, padded or not)
// and requires exactly 32 bytes.
func ParseKey(b64 string) ([]byte, error) {
	s := strings.TrimSpace(b64)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != KeySize {
				return nil, fmt.Errorf("parse encryption key: got %d bytes, want %d", len(key), KeySize)
			}
			return key, nil
		}
	}
	return nil, errors.New("parse encryption key: not valid base64")
}

// GenerateKey returns a new random key, base64 encoded.
func GenerateKey() (string, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generate encryption key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(key), nil
}

// KeyVersion derives a key's version from its SHA-256: a positive 31-bit
// number, stable for the key and independent of configuration order.
func KeyVersion(key []byte) int {
	sum := sha256.Sum256(key)
	v := int(binary.BigEndian.Uint32(sum[:4]) & 0x7fffffff)
	if v == 0 {
		v = 1
	}
	return v
}

// NewKeyring returns a keyring that encrypts with current and decrypts
// with current or any of old.
func NewKeyring(current []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: make(map[int]cipher.AEAD)}
	keys := make(map[int][]byte)
	for i, key := range append([][]byte{current}, old...) {
		if len(key) != KeySize {
			return nil, fmt.Errorf("new keyring: key %d has %d bytes, want %d", i, len(key), KeySize)
		}
		version := KeyVersion(key)
		if other, ok := keys[version]; ok && !bytes.Equal(other, key) {
			return nil, fmt.Errorf("new keyring: keys share version %d; generate another key", version)
		}
		keys[version] = key
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("new keyring: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("new keyring: %w", err)
		}
		k.aeads[version] = aead
		if i == 0 {
			k.current = version
		}
	}
	return k, nil
}

// Current returns the version of the key used by Encrypt.
func (k *Keyring) Current() int { return k.current }

// Encrypt seals plaintext with the current key and returns the stored
// form of the ciphertext and the key version.
func (k *Keyring) Encrypt(plaintext string) (ciphertext string, version int, err error) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", 0, fmt.Errorf("encrypt webhook URL: %w", err)
	}
	sealed := aead.Seal(nonce, nonce, []byte(plaintext), additionalData(k.current))
	return base64.StdEncoding.EncodeToString(sealed), k.current, nil
}

// Decrypt opens a ciphertext produced by Encrypt with the given key version.
func (k *Keyring) Decrypt(ciphertext string, version int) (string, error) {
	aead, ok := k.aeads[version]
	if !ok {
		return "", fmt.Errorf("decrypt webhook URL: %w %d", ErrUnknownKeyVersion, version)
	}
	sealed, err := base64.StdEncoding.DecodeString(ciphertext)
	if err != nil {
		return "", fmt.Errorf("decrypt webhook URL: %w", err)
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return "", errors.New("decrypt webhook URL: ciphertext too short")
	}
	nonce, body := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, body, additionalData(version))
	if err != nil {
		return "", fmt.Errorf("decrypt webhook URL with key version %d: %w", version, err)
	}
	return string(plain), nil
}

// Rotate decrypts a stored ciphertext and encrypts it again with the
// current key, as the key rotation command does for every row.
func (k *Keyring) Rotate(ciphertext string, version int) (string, int, error) {
	plain, err := k.Decrypt(ciphertext, version)
	if err != nil {
		return "", 0, err
	}
	return k.Encrypt(plain)
}

func additionalData(version int) []byte {
	return []byte("ottr/slack-webhook/v" + strconv.Itoa(version))
}

// ParseKeyring builds a keyring from base64 keys: the current one and the
// old ones still needed to decrypt rows not yet re-encrypted.
func ParseKeyring(current string, old []string) (*Keyring, error) {
	cur, err := ParseKey(current)
	if err != nil {
		return nil, fmt.Errorf("OTTR_ENCRYPTION_KEY: %w", err)
	}
	olds := make([][]byte, len(old))
	for i, s := range old {
		if olds[i], err = ParseKey(s); err != nil {
			return nil, fmt.Errorf("OTTR_OLD_ENCRYPTION_KEYS, key %d: %w", i+1, err)
		}
	}
	return NewKeyring(cur, olds...)
}
