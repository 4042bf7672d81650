package project

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
	"github.com/ottr/backend/internal/platform/store"
)

// CreateAPIKey makes a key for the project and returns its secret, which is
// never stored and never shown again.
func (s *Service) CreateAPIKey(ctx context.Context, projectID, name string, scope auth.Scope) (*auth.APIKey, string, error) {
	if err := apperr.CheckTexts("projectId", projectID, "name", name); err != nil {
		return nil, "", err
	}
	if _, err := s.authz.Authorize(ctx, projectID, ManageAPIKeys); err != nil {
		return nil, "", err
	}
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > 100 {
		return nil, "", apperr.Invalid("name", "API key name must be 1 to 100 characters")
	}
	prefix := auth.ReadKeyPrefix
	switch scope {
	case auth.ScopeWrite:
		prefix = auth.WriteKeyPrefix
	case auth.ScopeRead:
	default:
		return nil, "", apperr.Invalid("scope", "scope must be READ or WRITE")
	}
	secret := prefix + auth.RandomToken(24) // 192 bits
	key := auth.APIKey{ID: store.NewID(), ProjectID: projectID, Name: name, Scope: scope,
		Prefix: secret[:8], SecretHash: auth.HashToken(secret), CreatedAt: store.Now()}
	if err := s.store.DB(ctx).Create(&key).Error; err != nil {
		return nil, "", fmt.Errorf("create API key: %w", err)
	}
	return &key, secret, nil
}

// APIKeys lists a project's keys, newest first. Members who may not manage
// keys still see them (never their secrets): knowing which keys exist is
// part of reading a project's settings (not for READ keys).
func (s *Service) APIKeys(ctx context.Context, projectID string) ([]auth.APIKey, error) {
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, projectID, ReadSettings); err != nil {
		return nil, err
	}
	var keys []auth.APIKey
	if err := s.store.DB(ctx).Where("project_id = ?", projectID).Order("created_at DESC, id DESC").Find(&keys).Error; err != nil {
		return nil, fmt.Errorf("list API keys of %s: %w", projectID, err)
	}
	return keys, nil
}

// APIKeysPage is APIKeys, one page at a time.
func (s *Service) APIKeysPage(ctx context.Context, projectID string, args page.Args) (page.Page[auth.APIKey], error) {
	w, err := args.Window(page.MaxSize, 1)
	if err != nil {
		return page.Page[auth.APIKey]{}, err
	}
	all, err := s.APIKeys(ctx, projectID)
	if err != nil {
		return page.Page[auth.APIKey]{}, err
	}
	return page.Slice(all, w, func(k auth.APIKey) string { return page.DescTimeKey(k.CreatedAt, k.ID) }), nil
}

// APIKey returns one of the keys of a project the caller can read (never
// its secret); another tenant's answers NOT_FOUND like a missing one.
func (s *Service) APIKey(ctx context.Context, id string) (*auth.APIKey, error) {
	var key auth.APIKey
	err := s.store.DB(ctx).Where("id = ?", id).Take(&key).Error
	if store.IsNotFound(err) {
		return nil, apperr.NotFound("API key")
	}
	if err != nil {
		return nil, fmt.Errorf("load API key %s: %w", id, err)
	}
	if _, err := s.authz.Authorize(ctx, key.ProjectID, ReadSettings); err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound("API key")
		}
		return nil, err
	}
	return &key, nil
}

// RevokeAPIKey revokes a key at once. Revoking a revoked key changes nothing.
func (s *Service) RevokeAPIKey(ctx context.Context, id string) (*auth.APIKey, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return nil, err
	}
	var key auth.APIKey
	err := s.store.DB(ctx).Where("id = ?", id).Take(&key).Error
	if store.IsNotFound(err) {
		return nil, apperr.NotFound("API key")
	}
	if err != nil {
		return nil, fmt.Errorf("load API key %s: %w", id, err)
	}
	if _, err := s.authz.Authorize(ctx, key.ProjectID, ManageAPIKeys); err != nil {
		return nil, err
	}
	if key.RevokedAt != nil {
		return &key, nil
	}
	now := store.Now()
	defer s.keysChanged(id, "")
	res := s.store.DB(ctx).Model(&auth.APIKey{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", now)
	if res.Error != nil {
		return nil, fmt.Errorf("revoke API key %s: %w", id, res.Error)
	}
	if res.RowsAffected == 1 {
		key.RevokedAt = &now
		return &key, nil
	}
	// A concurrent revocation came first, or the project was deleted:
	// answer with the stored revocation time, or NOT_FOUND.
	err = s.store.DB(ctx).Where("id = ?", id).Take(&key).Error
	if store.IsNotFound(err) {
		return nil, apperr.NotFound("API key")
	}
	if err != nil {
		return nil, fmt.Errorf("load API key %s: %w", id, err)
	}
	return &key, nil
}
