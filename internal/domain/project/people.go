package project

import (
	"context"
	"fmt"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
)

// VisibleUser returns a user's account to a caller allowed to see it: the
// user themselves, a member of a project the user is in, or a key of such
// a project that may read its people (not a READ key). Anyone else gets
// NOT_FOUND, as for an id that names no account.
func (s *Service) VisibleUser(ctx context.Context, userID string) (*auth.User, error) {
	if err := apperr.CheckTexts("id", userID); err != nil {
		return nil, err
	}
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	db := s.store.DB(ctx)
	var shared int64
	switch {
	case p.APIKey != nil:
		if !AllowsKey(p.APIKey.Scope, ReadSettings) {
			return nil, apperr.NotFound("user")
		}
		err = db.Model(&Member{}).Where("project_id = ? AND user_id = ?", p.APIKey.ProjectID, userID).Count(&shared).Error
	case p.UserID == userID:
		shared = 1
	default:
		err = db.Model(&Member{}).
			Where("user_id = ? AND project_id IN (?)", userID,
				db.Model(&Member{}).Select("project_id").Where("user_id = ?", p.UserID)).
			Count(&shared).Error
	}
	if err != nil {
		return nil, fmt.Errorf("check shared project: %w", err)
	}
	if shared == 0 {
		return nil, apperr.NotFound("user")
	}
	var u auth.User
	if err := db.Where("id = ?", userID).Take(&u).Error; err != nil {
		if store.IsNotFound(err) {
			return nil, apperr.NotFound("user")
		}
		return nil, fmt.Errorf("load user %s: %w", userID, err)
	}
	return &u, nil
}
