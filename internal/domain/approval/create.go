package approval

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
)

// tokenBytes is the link token's entropy: 256 bits from crypto/rand.
const tokenBytes = 32

// Created is a new approval with its link, which is shown only this once.
type Created struct {
	Approval Approval
	URL      string
	Token    string
}

// Create makes an approval (MEMBER and up, or a WRITE key). In one
// transaction it sets the key to the initial value (or makes sure the key
// exists), stores the approval with only the hash of its token, and records
// APPROVAL_CREATED.
func (s *Service) Create(ctx context.Context, projectID string, in CreateInput) (*Created, error) {
	access, err := s.authz.Authorize(ctx, projectID, project.WriteData)
	if err != nil {
		return nil, err
	}
	return s.create(ctx, projectID, access, in, auth.RandomToken(tokenBytes))
}

// create makes an approval, authorized by access, whose link carries
// token.
func (s *Service) create(ctx context.Context, projectID string, access *project.Access, in CreateInput, token string) (*Created, error) {
	set, err := in.validate()
	if err != nil {
		return nil, err
	}
	var deciders *string
	if in.Deciders != nil {
		ids, err := project.Deciders(ctx, s.store, projectID, "deciders", in.Deciders)
		if err != nil {
			return nil, err
		}
		encoded, err := json.Marshal(ids)
		if err != nil {
			return nil, fmt.Errorf("encode deciders: %w", err)
		}
		deciders = new(string)
		*deciders = string(encoded)
	}
	var callback *sealedCallback
	if in.CallbackURL != nil {
		if callback, err = s.sealCallback(*in.CallbackURL); err != nil {
			return nil, err
		}
	}
	actions, err := json.Marshal(set.actions)
	if err != nil {
		return nil, fmt.Errorf("encode actions: %w", err)
	}
	now := s.now()
	r := row{
		ID: store.NewID(), ProjectID: projectID, KeyPath: in.KeyPath, Info: in.Info, RefID: in.RefID,
		Actions: string(actions), Status: Pending, CreatedAt: now, ExpiresAt: now.Add(set.ttl),
		TokenHash: auth.HashToken(token), MaxPinAttempts: set.maxPinAttempts,
		AllowLink: in.AllowLink == nil || *in.AllowLink, Deciders: deciders,
	}
	if p := access.Principal; p.APIKey != nil {
		r.CreatedByAPIKeyID = &p.APIKey.ID
	} else {
		r.CreatedByUserID = &p.UserID
	}
	if in.Pin != nil {
		h := s.secrets.hashPIN(r.ID, *in.Pin)
		r.PinHash = &h
	}
	err = s.store.WithTx(ctx, func(ctx context.Context) error {
		kv := KeyValue{ProjectID: projectID, Path: in.KeyPath, Value: in.InitialValue, UpdatedAt: now}
		if err := s.lockAndWriteKey(ctx, kv, in.InitialValue != nil); err != nil {
			return err
		}
		if err := s.store.DB(ctx).Create(&r).Error; err != nil {
			return fmt.Errorf("create approval: %w", err)
		}
		if callback != nil {
			if err := s.storeCallback(ctx, r.ID, projectID, callback); err != nil {
				return err
			}
		}
		return s.recorder.Record(ctx, r.event(event.ApprovalCreated, now))
	})
	if err != nil {
		return nil, err
	}
	a, err := r.approval(now)
	if err != nil {
		return nil, err
	}
	return &Created{Approval: a, URL: s.publicURL + "/a/" + token, Token: token}, nil
}

// sealedCallback is a validated callback URL, encrypted.
type sealedCallback struct {
	ciphertext string
	keyVersion int
}

func (s *Service) sealCallback(raw string) (*sealedCallback, error) {
	if s.callbacks == nil {
		// Only a server built without UseCallbacks (some tests).
		return nil, apperr.Invalid("callbackUrl", "callbacks are not available on this server")
	}
	enc, version, err := s.callbacks.Seal(raw)
	if err != nil {
		return nil, err
	}
	return &sealedCallback{ciphertext: enc, keyVersion: version}, nil
}

// storeCallback stores the approval's callback URL and, on first use, the
// project's callback secret, in ctx's transaction: the approval's first
// event (APPROVAL_CREATED) already goes to the callback. The columns are
// not row's, which every read scans in order.
func (s *Service) storeCallback(ctx context.Context, approvalID, projectID string, c *sealedCallback) error {
	if err := s.callbacks.EnsureSecret(ctx, projectID); err != nil {
		return err
	}
	err := s.store.DB(ctx).Exec("UPDATE approvals SET callback_url_enc = ?, callback_key_version = ? WHERE id = ?",
		c.ciphertext, c.keyVersion, approvalID).Error
	if err != nil {
		return fmt.Errorf("store the callback of approval %s: %w", approvalID, err)
	}
	return nil
}

// lockProjectWriteKey takes the project's row FOR KEY SHARE (step 1 of
// the lock order, project/lock.go) and then writes the key, in one round
// trip: the key's row is locked only once the project's is. It answers
// how many projects it locked: 0 when the project is gone.
var (
	lockProjectWriteKey = store.NewQuery(`WITH p AS (SELECT id FROM projects WHERE id = ? FOR KEY SHARE),
		k AS (INSERT INTO key_values (project_id, path, value, updated_at) SELECT id, ?, ?, ? FROM p
			ON CONFLICT (project_id, path) DO NOTHING)
		SELECT count(*) FROM p`)
	lockProjectOverwriteKey = store.NewQuery(`WITH p AS (SELECT id FROM projects WHERE id = ? FOR KEY SHARE),
		k AS (INSERT INTO key_values (project_id, path, value, updated_at) SELECT id, ?, ?, ? FROM p
			ON CONFLICT (project_id, path) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at)
		SELECT count(*) FROM p`)
)

// lockAndWriteKey is project.LockForWrite then writeKey, in ctx's
// transaction; on PostgreSQL one statement does both.
func (s *Service) lockAndWriteKey(ctx context.Context, kv KeyValue, overwrite bool) error {
	if s.store.Dialect() != store.Postgres {
		if err := project.LockForWrite(ctx, s.store, kv.ProjectID); err != nil {
			return err
		}
		return s.writeKey(ctx, kv, overwrite)
	}
	q := lockProjectWriteKey
	if overwrite {
		q = lockProjectOverwriteKey
	}
	var locked int
	if err := s.store.QueryRow(ctx, q, kv.ProjectID, kv.Path, kv.Value, kv.UpdatedAt).Scan(&locked); err != nil {
		return fmt.Errorf("lock project %s and write key %s: %w", kv.ProjectID, kv.Path, err)
	}
	if locked == 0 {
		return apperr.NotFound("project")
	}
	return nil
}
