package graph

import (
	"strconv"

	"github.com/ottr/backend/graph/model"
	"github.com/ottr/backend/internal/auth"
	"github.com/ottr/backend/internal/event"
	"github.com/ottr/backend/internal/project"
)

// Conversions from domain values to GraphQL models. They hold no rules.

func toUser(u auth.User) *model.User {
	return &model.User{ID: u.ID, Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt}
}

func toAuthPayload(s *auth.Session) *model.AuthPayload {
	return &model.AuthPayload{AccessToken: s.AccessToken, RefreshToken: s.RefreshToken, ExpiresAt: s.ExpiresAt, User: toUser(s.User)}
}

func toProject(p project.Project) *model.Project {
	return &model.Project{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt}
}

func toMember(m project.MemberWithUser) *model.ProjectMember {
	return &model.ProjectMember{User: toUser(m.User), Role: model.Role(m.Role), AddedAt: m.AddedAt}
}

func toAPIKey(k auth.APIKey) *model.APIKey {
	return &model.APIKey{ID: k.ID, Name: k.Name, Scope: model.APIKeyScope(k.Scope), Prefix: k.Prefix,
		CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

func toEvent(e event.Event) *model.Event {
	return &model.Event{
		ID: strconv.FormatInt(e.ID, 10), Type: model.EventType(e.Type), OccurredAt: e.OccurredAt,
		ProjectID: e.ProjectID, ApprovalID: e.ApprovalID, KeyPath: e.KeyPath, Action: e.Action,
		Attempts: e.Attempts, MaxAttempts: e.MaxAttempts, Reason: e.Reason,
	}
}

func toEventTypes(types []model.EventType) []event.Type {
	return mapAll(types, func(t model.EventType) event.Type { return event.Type(t) })
}

// mapAll converts a slice with f.
func mapAll[T, M any](in []T, f func(T) M) []M {
	out := make([]M, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}
