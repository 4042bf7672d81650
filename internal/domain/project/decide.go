package project

import (
	"context"
	"fmt"
	"strings"

	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
)

// NoSelfApproval reports whether the project forbids the creator of an
// approval (a user or an API key) to decide it.
func NoSelfApproval(ctx context.Context, st *store.Store, projectID string) (bool, error) {
	var on []bool
	if err := st.DB(ctx).Raw("SELECT no_self_approval FROM projects WHERE id = ?", projectID).Scan(&on).Error; err != nil {
		return false, fmt.Errorf("read approval rules of %s: %w", projectID, err)
	}
	return len(on) == 1 && on[0], nil
}

// NoSelfApproval is the project's no-self-approval rule, for a caller who
// may read the project.
func (s *Service) NoSelfApproval(ctx context.Context, projectID string) (bool, error) {
	if _, err := s.authz.Authorize(ctx, projectID, ReadSettings); err != nil {
		return false, err
	}
	return NoSelfApproval(ctx, s.store, projectID)
}

// SetNoSelfApproval turns the no-self-approval rule on or off (OWNER,
// ADMIN).
func (s *Service) SetNoSelfApproval(ctx context.Context, projectID string, on bool) (*Project, error) {
	if _, err := s.authz.Authorize(ctx, projectID, SetApprovalRules); err != nil {
		return nil, err
	}
	if err := s.store.DB(ctx).Exec("UPDATE projects SET no_self_approval = ? WHERE id = ?", on, projectID).Error; err != nil {
		return nil, fmt.Errorf("set approval rules of %s: %w", projectID, err)
	}
	return s.load(ctx, projectID)
}

// Deciders resolves the members named by user id or e-mail address to
// their user ids, in the order given without repeats. Each must be a
// member whose role may decide; otherwise the whole list is BAD_USER_INPUT
// on field.
func Deciders(ctx context.Context, st *store.Store, projectID, field string, refs []string) ([]string, error) {
	var members []struct {
		UserID string
		Email  string
		Role   Role
	}
	err := st.DB(ctx).Raw(`SELECT m.user_id, u.email, m.role FROM project_members m JOIN users u ON u.id = m.user_id
		WHERE m.project_id = ?`, projectID).Scan(&members).Error
	if err != nil {
		return nil, fmt.Errorf("load members of %s: %w", projectID, err)
	}
	ids := make([]string, 0, len(refs))
	seen := map[string]bool{}
	for _, ref := range refs {
		found := ""
		for _, m := range members {
			if m.UserID == ref || strings.EqualFold(m.Email, strings.TrimSpace(ref)) {
				if !Allows(m.Role, Decide) {
					return nil, apperr.Invalid(field, "%s: a %s may not decide approvals", field, m.Role)
				}
				found = m.UserID
				break
			}
		}
		if found == "" {
			return nil, apperr.Invalid(field, "%s: %q is not a member of this project", field, ref)
		}
		if !seen[found] {
			seen[found] = true
			ids = append(ids, found)
		}
	}
	return ids, nil
}
