package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret, as the Standard Webhooks
// libraries expect: whsec_ then the base64 of the key.
const SecretPrefix = "whsec_"

// secretBytes is the key's length: the specification asks for 24 to 64.
const secretBytes = 32

// DefaultRotationOverlap is how long the previous secret keeps signing
// after a rotation, so receivers can switch without dropping requests.
const DefaultRotationOverlap = 24 * time.Hour

// MaxRotationOverlap bounds the overlap a rotation may ask for.
const MaxRotationOverlap = 7 * 24 * time.Hour

// NewSecret returns a new signing secret.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// Sign returns the signature of one request per the Standard Webhooks
// specification: "v1," then the base64 HMAC-SHA256, keyed with the
// secret's decoded part, of "{msgID}.{timestamp}.{body}".
func Sign(secret, msgID string, timestamp time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return "", errors.New("webhook secret is not whsec_ and base64")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID + "." + strconv.FormatInt(timestamp.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Headers returns the three headers of a signed request: webhook-id,
// webhook-timestamp and webhook-signature, the latter with one signature
// per secret, space-separated (during a rotation, the new secret's and
// the previous one's).
func Headers(msgID string, timestamp time.Time, body []byte, secrets ...string) (map[string]string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		sig, err := Sign(s, msgID, timestamp, body)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, sig)
	}
	return map[string]string{
		"webhook-id":        msgID,
		"webhook-timestamp": strconv.FormatInt(timestamp.Unix(), 10),
		"webhook-signature": strings.Join(sigs, " "),
	}, nil
}
