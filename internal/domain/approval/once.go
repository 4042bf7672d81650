package approval

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
)

// RequestKeyWindow is how long a request key (the REST API's
// Idempotency-Key) keeps answering with the approval its first request
// created.
const RequestKeyWindow = 24 * time.Hour

// MaxRequestKeyLen caps a request key.
const MaxRequestKeyLen = 255

// ErrRequestKeyReused answers a request key sent again with another
// request.
var ErrRequestKeyReused = apperr.Invalid("Idempotency-Key",
	"this Idempotency-Key was used in the last 24 hours with another request body; use a new key for a new request")

// errRequestKeyBusy answers a repeat that finds the first request's claim
// without its approval, which a committed claim always has: defensive.
var errRequestKeyBusy = apperr.Conflict("a request with this Idempotency-Key is still in progress; try again")

// errSecretChanged answers a repeat whose link cannot be derived again:
// the server secret changed since the first request.
var errSecretChanged = apperr.Conflict("the first request's link cannot be shown again since the server's secret changed; use a new Idempotency-Key")

// CreateOnce is Create for a request that a script may send again (after a
// timeout, a retried CI step): the first request with requestKey creates
// the approval; a repeat within RequestKeyWindow whose fingerprint (a hash
// of the request) is the same gets the same approval and link, and
// replayed is true; another fingerprint is ErrRequestKeyReused.
//
// The claim on the key and the approval are written in one transaction, so
// concurrent repeats wait for the first one's commit and then read what it
// created: exactly one approval, and every request sees it. A failed
// create rolls its claim back, so a refused request may be sent again with
// the same key. The link token is derived from a random seed stored with
// the claim and the server secret, so that a repeat can show the link
// again although only the token's hash is stored.
func (s *Service) CreateOnce(ctx context.Context, projectID, requestKey, fingerprint string, in CreateInput) (c *Created, replayed bool, err error) {
	access, err := s.authz.Authorize(ctx, projectID, project.WriteData)
	if err != nil {
		return nil, false, err
	}
	if err := validateRequestKey(requestKey); err != nil {
		return nil, false, err
	}
	err = s.store.WithTx(ctx, func(ctx context.Context) error {
		if err := project.LockForWrite(ctx, s.store, projectID); err != nil {
			return err
		}
		now := s.now()
		seed := auth.RandomToken(tokenBytes)
		// A key past its window is free again: the claim takes its row over.
		res := s.store.DB(ctx).Exec(`INSERT INTO idempotency_keys (project_id, request_key, fingerprint, link_seed, created_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (project_id, request_key) DO UPDATE
				SET fingerprint = excluded.fingerprint, link_seed = excluded.link_seed, approval_id = NULL, created_at = excluded.created_at
				WHERE idempotency_keys.created_at <= ?`,
			projectID, requestKey, fingerprint, seed, now, now.Add(-RequestKeyWindow))
		if res.Error != nil {
			return fmt.Errorf("claim request key in %s: %w", projectID, res.Error)
		}
		if res.RowsAffected == 1 {
			var err error
			if c, err = s.create(ctx, projectID, access, in, s.secrets.linkToken(seed)); err != nil {
				return err
			}
			if err := s.store.DB(ctx).Exec(`UPDATE idempotency_keys SET approval_id = ? WHERE project_id = ? AND request_key = ?`,
				c.Approval.ID, projectID, requestKey).Error; err != nil {
				return fmt.Errorf("record request key's approval in %s: %w", projectID, err)
			}
			// The project's other keys past their window are forgotten here,
			// so the table holds about a day of requests.
			if err := s.store.DB(ctx).Exec(`DELETE FROM idempotency_keys WHERE project_id = ? AND created_at <= ?`,
				projectID, now.Add(-RequestKeyWindow)).Error; err != nil {
				return fmt.Errorf("forget old request keys of %s: %w", projectID, err)
			}
			return nil
		}
		replayed = true
		c, err = s.replay(ctx, projectID, requestKey, fingerprint)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return c, replayed, nil
}

// replay reads what the first request with a key created.
func (s *Service) replay(ctx context.Context, projectID, requestKey, fingerprint string) (*Created, error) {
	var first struct {
		Fingerprint string
		LinkSeed    string
		ApprovalID  *string
	}
	err := s.store.DB(ctx).Raw(`SELECT fingerprint, link_seed, approval_id FROM idempotency_keys WHERE project_id = ? AND request_key = ?`,
		projectID, requestKey).Scan(&first).Error
	if err != nil {
		return nil, fmt.Errorf("read request key in %s: %w", projectID, err)
	}
	if !hmac.Equal([]byte(first.Fingerprint), []byte(fingerprint)) {
		return nil, ErrRequestKeyReused
	}
	if first.ApprovalID == nil {
		return nil, errRequestKeyBusy
	}
	r, err := s.load(ctx, byID, *first.ApprovalID)
	if err != nil {
		return nil, err
	}
	a, err := r.approval(s.now())
	if err != nil {
		return nil, err
	}
	token := s.secrets.linkToken(first.LinkSeed)
	if auth.HashToken(token) != r.TokenHash {
		return nil, errSecretChanged
	}
	return &Created{Approval: a, URL: s.publicURL + "/a/" + token, Token: token}, nil
}

func validateRequestKey(key string) error {
	if len(key) < 1 || len(key) > MaxRequestKeyLen {
		return apperr.Invalid("Idempotency-Key", "Idempotency-Key must be 1 to %d characters", MaxRequestKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return apperr.Invalid("Idempotency-Key", "Idempotency-Key must be printable ASCII without spaces")
		}
	}
	return nil
}

// linkToken derives a link token from a seed: as unguessable as a random
// one without the server secret, and shown again from the seed alone.
func (s secrets) linkToken(seed string) string {
	m := hmac.New(sha256.New, s.linkKey)
	m.Write([]byte(seed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
