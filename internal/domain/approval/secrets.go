package approval

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"time"

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

// checkPIN compares in constant time.
func (s secrets) checkPIN(hash, approvalID, pin string) bool {
	return hmac.Equal([]byte(hash), []byte(s.hashPIN(approvalID, pin)))
}

// nonce binds a page load to one link and a time: base64url of the issue
// time (unix seconds, 8 bytes) followed by an HMAC over the token hash and
// that time.
func (s secrets) nonce(tokenHash string, issued time.Time) string {
	buf := make([]byte, 8, 8+sha256.Size)
	binary.BigEndian.PutUint64(buf, uint64(issued.Unix()))
	return base64.RawURLEncoding.EncodeToString(append(buf, s.nonceMAC(tokenHash, buf)...))
}

func (s secrets) nonceMAC(tokenHash string, issued []byte) []byte {
	m := hmac.New(sha256.New, s.nonceKey)
	m.Write([]byte(tokenHash))
	m.Write([]byte{0})
	m.Write(issued)
	return m.Sum(nil)
}

// checkNonce refuses a nonce that is missing, was not made by this server
// for this link, or is older than NonceTTL.
func (s secrets) checkNonce(nonce, tokenHash string, now time.Time) error {
	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(raw) != 8+sha256.Size {
		return errBadNonce
	}
	if !hmac.Equal(raw[8:], s.nonceMAC(tokenHash, raw[:8])) {
		return errBadNonce
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(raw[:8])), 0)
	if now.Sub(issued) > NonceTTL || issued.Sub(now) > nonceSkew {
		return apperr.Invalid("nonce", "the page is out of date: load the link again")
	}
	return nil
}

var errBadNonce = apperr.Invalid("nonce", "nonce is missing or invalid: load the link first")
