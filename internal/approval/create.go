package approval

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ottr/backend/internal/auth"
	"github.com/ottr/backend/internal/event"
	"github.com/ottr/backend/internal/project"
	"github.com/ottr/backend/internal/store"
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
		if err := project.LockForWrite(ctx, s.store, projectID); err != nil {
			return err
		}
		kv := KeyValue{ProjectID: projectID, Path: in.KeyPath, Value: in.InitialValue, UpdatedAt: now}
		if err := s.writeKey(ctx, kv, in.InitialValue != nil); err != nil {
			return err
		}
		if err := s.store.DB(ctx).Create(&r).Error; err != nil {
			return fmt.Errorf("create approval: %w", err)
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
