package webhook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm/clause"

	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
)

// CallbackURLField names an approval's callback URL in errors.
const CallbackURLField = "callbackUrl"

// CallbackSecret is a project's callback signing secret: a row of
// callback_secrets. One secret signs the callbacks of all the project's
// approvals, so that a script verifies them without a secret per
// approval; it rotates with an overlap, as an endpoint's does.
type CallbackSecret struct {
	ProjectID                string `gorm:"primaryKey"`
	SecretEnc                string
	SecretKeyVersion         int
	PreviousSecretEnc        *string
	PreviousSecretKeyVersion *int
	PreviousSecretExpiresAt  *time.Time
	CreatedAt                time.Time
	UpdatedAt                time.Time
}

// TableName pins the table name.
func (CallbackSecret) TableName() string { return "callback_secrets" }

// Callbacks keeps per-approval callbacks: it validates and encrypts their
// URLs under the endpoints' rules (Policy) and holds each project's
// callback secret. The approval service stores the sealed URL with the
// approval; the dispatcher delivers the approval's events to it.
type Callbacks struct {
	store  *store.Store
	authz  *project.Authorizer
	keys   *slack.Keyring
	policy Policy
}

// NewCallbacks returns the callback service.
func NewCallbacks(st *store.Store, authz *project.Authorizer, keys *slack.Keyring, policy Policy) *Callbacks {
	return &Callbacks{store: st, authz: authz, keys: keys, policy: policy}
}

// Seal validates a callback URL and returns it encrypted, with its key's
// version. An unacceptable URL is a BAD_USER_INPUT on callbackUrl whose
// message never repeats the URL.
func (c *Callbacks) Seal(raw string) (ciphertext string, keyVersion int, err error) {
	raw = strings.TrimSpace(raw)
	if err := apperr.CheckText(CallbackURLField, raw); err != nil {
		return "", 0, err
	}
	if err := c.policy.Validate(raw); err != nil {
		var fe *slack.FieldError
		if errors.As(err, &fe) {
			return "", 0, apperr.Invalid(CallbackURLField, "%s", strings.Replace(fe.Message, "url ", "callbackUrl ", 1))
		}
		return "", 0, err
	}
	return c.keys.Encrypt(raw)
}

// EnsureSecret creates the project's callback secret, in ctx's
// transaction, unless it has one. Callbacks are signed from the first:
// the secret is shown by RotateSecret, which a receiver calls before it
// verifies.
func (c *Callbacks) EnsureSecret(ctx context.Context, projectID string) error {
	secret, err := NewSecret()
	if err != nil {
		return err
	}
	enc, version, err := c.keys.Encrypt(secret)
	if err != nil {
		return err
	}
	now := store.Now()
	row := CallbackSecret{ProjectID: projectID, SecretEnc: enc, SecretKeyVersion: version, CreatedAt: now, UpdatedAt: now}
	err = c.store.DB(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "project_id"}}, DoNothing: true}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("create the callback secret of project %s: %w", projectID, err)
	}
	return nil
}

// RotateSecret gives the project a new callback secret, returned once,
// and creates it if the project has none yet. The previous one keeps
// signing beside it for overlap (default DefaultRotationOverlap; 0 ends
// it at once). OWNER, ADMIN and WRITE keys.
func (c *Callbacks) RotateSecret(ctx context.Context, projectID string, overlap *time.Duration) (*CallbackSecret, string, error) {
	keep := DefaultRotationOverlap
	if overlap != nil {
		keep = *overlap
	}
	if keep < 0 || keep > MaxRotationOverlap {
		return nil, "", apperr.Invalid("overlapSeconds", "overlapSeconds must be 0 to %d", int(MaxRotationOverlap/time.Second))
	}
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return nil, "", err
	}
	if _, err := c.authz.Authorize(ctx, projectID, project.ManageSlack); err != nil {
		return nil, "", err
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, "", err
	}
	enc, version, err := c.keys.Encrypt(secret)
	if err != nil {
		return nil, "", err
	}
	now := store.Now()
	db := c.store.DB(ctx)
	var cur CallbackSecret
	switch err := db.Where("project_id = ?", projectID).Take(&cur).Error; {
	case store.IsNotFound(err):
		cur = CallbackSecret{ProjectID: projectID, SecretEnc: enc, SecretKeyVersion: version, CreatedAt: now, UpdatedAt: now}
		res := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "project_id"}}, DoNothing: true}).Create(&cur)
		if res.Error != nil {
			return nil, "", fmt.Errorf("create the callback secret of project %s: %w", projectID, res.Error)
		}
		if res.RowsAffected == 0 {
			return nil, "", apperr.Conflict("the callback secret was created meanwhile; try again")
		}
		return &cur, secret, nil
	case err != nil:
		return nil, "", fmt.Errorf("load the callback secret of project %s: %w", projectID, err)
	}
	set := map[string]any{"secret_enc": enc, "secret_key_version": version, "updated_at": now,
		"previous_secret_enc": nil, "previous_secret_key_version": nil, "previous_secret_expires_at": nil}
	if keep > 0 {
		set["previous_secret_enc"], set["previous_secret_key_version"], set["previous_secret_expires_at"] = cur.SecretEnc, cur.SecretKeyVersion, now.Add(keep)
	}
	// Only over the secret read, as for endpoints: two rotations at once
	// must not leave a secret signing that no one was shown.
	res := db.Model(&CallbackSecret{}).Where("project_id = ? AND secret_enc = ?", projectID, cur.SecretEnc).Updates(set)
	if res.Error != nil {
		return nil, "", fmt.Errorf("rotate the callback secret of project %s: %w", projectID, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, "", apperr.Conflict("the callback secret was rotated meanwhile; try again")
	}
	// Into a new value: scanning into cur would keep the previous
	// secret's fields that the rotation set to NULL.
	var rotated CallbackSecret
	if err := db.Where("project_id = ?", projectID).Take(&rotated).Error; err != nil {
		return nil, "", fmt.Errorf("load the callback secret of project %s: %w", projectID, err)
	}
	return &rotated, secret, nil
}

// CallbackSigningSecrets returns the secrets that sign a callback of the
// project at now: the current one, then the previous one while the
// rotation's overlap lasts.
func CallbackSigningSecrets(ctx context.Context, st *store.Store, keys *slack.Keyring, projectID string, now time.Time) ([]string, error) {
	var row CallbackSecret
	if err := st.DB(ctx).Where("project_id = ?", projectID).Take(&row).Error; err != nil {
		return nil, fmt.Errorf("load the callback secret of project %s: %w", projectID, err)
	}
	return signing(keys, "project "+projectID+" callback", row.SecretEnc, row.SecretKeyVersion,
		row.PreviousSecretEnc, row.PreviousSecretKeyVersion, row.PreviousSecretExpiresAt, now)
}

// signing decrypts the current secret and, until it expires, the previous
// one.
func signing(keys *slack.Keyring, what, enc string, version int, prevEnc *string, prevVersion *int, prevExpires *time.Time, now time.Time) ([]string, error) {
	current, err := keys.Decrypt(enc, version)
	if err != nil {
		return nil, fmt.Errorf("%s secret: %w", what, err)
	}
	out := []string{current}
	if prevEnc != nil && prevVersion != nil && prevExpires != nil && now.Before(*prevExpires) {
		prev, err := keys.Decrypt(*prevEnc, *prevVersion)
		if err != nil {
			return nil, fmt.Errorf("%s previous secret: %w", what, err)
		}
		out = append(out, prev)
	}
	return out, nil
}

// Policy returns the URL rules callbacks follow.
func (c *Callbacks) Policy() Policy { return c.policy }

// Keys returns the keyring that encrypts callback URLs and secrets.
func (c *Callbacks) Keys() *slack.Keyring { return c.keys }

// Secret returns the project's callback secret, encrypted, or nil when the
// project has none yet, to whoever may read the project's settings (not
// READ keys). It never holds the secret in clear: that is shown once, by
// RotateSecret.
func (c *Callbacks) Secret(ctx context.Context, projectID string) (*CallbackSecret, error) {
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return nil, err
	}
	if _, err := c.authz.Authorize(ctx, projectID, project.ReadSettings); err != nil {
		return nil, err
	}
	var cur CallbackSecret
	if err := c.store.DB(ctx).Where("project_id = ?", projectID).Take(&cur).Error; err != nil {
		if store.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("load the callback secret of project %s: %w", projectID, err)
	}
	return &cur, nil
}
