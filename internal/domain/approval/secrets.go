package approval

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/google/uuid"

	"github.com/ottr/backend/internal/platform/apperr"
)

// NonceTTL is how long a nonce from opening a link stays valid.
const NonceTTL = 15 * time.Minute

// nonceSkew tolerates clocks of several instances that disagree a little.
const nonceSkew = time.Minute

// secrets holds the keys derived from the server secret: one for PIN
// hashes, one for link nonces, one for the links of repeatable requests,
// so that none can stand in for another or for an access token.
type secrets struct {
	pinKey   []byte
	nonceKey []byte
	linkKey  []byte // links of repeatable requests (CreateOnce)
}

func newSecrets(serverSecret []byte) secrets {
	return secrets{
		pinKey:   derive(serverSecret, "ottr approval PIN hash v1"),
		nonceKey: derive(serverSecret, "ottr approval link nonce v1"),
		linkKey:  derive(serverSecret, "ottr approval link from request key v1"),
	}
}

func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// hashPIN is the stored form of an approval's PIN: a keyed hash over the
// approval id and the PIN, so equal PINs of two approvals differ and a
// leaked table alone does not let anyone test PINs.
func (s secrets) hashPIN(approvalID, pin string) string {
	m := hmac.New(sha256.New, s.pinKey)
	m.Write([]byte(approvalID))
	m.Write([]byte{0})
	m.Write([]byte(pin))
	return hex.EncodeToString(m.Sum(nil))
}

// pinDigest is what a one-statement execution (executeByLink) compares in
// SQL in place of a PIN's hash: PostgreSQL compares texts byte by byte,
// not in constant time, but how long it takes to compare the SHA-256
// digests of two hashes says nothing about the stored hash.
func pinDigest(hash string) []byte {
	d := sha256.Sum256([]byte(hash))
	return d[:]
}

// checkPIN compares in constant time.
func (s secrets) checkPIN(hash, approvalID, pin string) bool {
	return hmac.Equal([]byte(hash), []byte(s.hashPIN(approvalID, pin)))
}

// nonce binds a page load to one link and a time, and names the approval
// so that an execution can compute its PIN hash without reading it first:
// base64url of the issue time (unix seconds, 8 bytes), the approval id (its
// UUID's 16 bytes) and an HMAC over the token hash and both. An id that is
// not a UUID in its canonical form is left out (the nonce is then as
// before the id was added, and the execution reads the approval first).
func (s secrets) nonce(tokenHash, approvalID string, issued time.Time) string {
	payload := make([]byte, nonceTimeLen, nonceWithIDLen+sha256.Size)
	binary.BigEndian.PutUint64(payload, uint64(issued.Unix()))
	if id, ok := packedID(approvalID); ok {
		payload = append(payload, id[:]...)
	}
	return base64.RawURLEncoding.EncodeToString(append(payload, s.nonceMAC(tokenHash, payload)...))
}

// The lengths of a nonce's signed part: the issue time alone (nonces
// issued before they named the approval) or with the approval id.
const (
	nonceTimeLen   = 8
	nonceWithIDLen = nonceTimeLen + len(uuid.UUID{})
)

// packedID is an approval id as 16 bytes, when it unpacks to the same text.
func packedID(approvalID string) (uuid.UUID, bool) {
	id, err := uuid.Parse(approvalID)
	return id, err == nil && id.String() == approvalID
}

// nonceMAC signs a nonce's payload (issue time, and approval id when it has
// one) for the link of tokenHash.
func (s secrets) nonceMAC(tokenHash string, payload []byte) []byte {
	m := hmac.New(sha256.New, s.nonceKey)
	m.Write([]byte(tokenHash))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)
}

// checkNonce refuses a nonce that is missing, was not made by this server
// for this link, or is older than NonceTTL. It returns the approval id the
// nonce names, "" for a nonce issued before nonces named it.
func (s secrets) checkNonce(nonce, tokenHash string, now time.Time) (approvalID string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(raw) < sha256.Size {
		return "", errBadNonce
	}
	payload, mac := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	if len(payload) != nonceTimeLen && len(payload) != nonceWithIDLen {
		return "", errBadNonce
	}
	if !hmac.Equal(mac, s.nonceMAC(tokenHash, payload)) {
		return "", errBadNonce
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(payload[:nonceTimeLen])), 0)
	if now.Sub(issued) > NonceTTL || issued.Sub(now) > nonceSkew {
		return "", apperr.Invalid("nonce", "the page is out of date: load the link again")
	}
	if len(payload) == nonceTimeLen {
		return "", nil
	}
	return uuid.UUID(payload[nonceTimeLen:]).String(), nil
}

var errBadNonce = apperr.Invalid("nonce", "nonce is missing or invalid: load the link first")
