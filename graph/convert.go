package graph

import (
	"strconv"

	"github.com/ottr/backend/graph/model"
	"github.com/ottr/backend/internal/auth"
	"github.com/ottr/backend/internal/event"
	"github.com/ottr/backend/internal/notify"
	"github.com/ottr/backend/internal/project"
	"github.com/ottr/backend/internal/slack"
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
	return &model.Event{ID: strconv.FormatInt(e.ID, 10), Type: model.EventType(e.Type), OccurredAt: e.OccurredAt,
		ProjectID: e.ProjectID, ApprovalID: e.ApprovalID, KeyPath: e.KeyPath, Action: e.Action,
		Attempts: e.Attempts, MaxAttempts: e.MaxAttempts, Reason: e.Reason}
}

func toEventTypes(types []model.EventType) []event.Type {
	if types == nil {
		return nil
	}
	out := make([]event.Type, len(types))
	for i, t := range types {
		out[i] = event.Type(t)
	}
	return out
}

func toSlackChannel(c slack.Channel) *model.SlackChannel {
	events := make([]model.EventType, len(c.Events))
	for i, t := range c.Events {
		events[i] = model.EventType(t)
	}
	var status *model.DeliveryStatus
	if c.LastDeliveryStatus != nil {
		s := model.DeliveryStatus(*c.LastDeliveryStatus)
		status = &s
	}
	return &model.SlackChannel{ID: c.ID, ProjectID: c.ProjectID, Name: c.Name, WebhookURLMasked: c.Masked,
		Events: events, Enabled: c.Enabled, DisabledReason: c.DisabledReason, CreatedAt: c.CreatedAt,
		UpdatedAt: c.UpdatedAt, LastDeliveryAt: c.LastDeliveryAt, LastDeliveryStatus: status, LastError: c.LastError}
}

func toSlackTestResult(r slack.TestResult) *model.SlackTestResult {
	out := &model.SlackTestResult{Ok: r.OK, LatencyMs: int(r.Latency.Milliseconds())}
	if r.StatusCode != 0 {
		out.StatusCode = &r.StatusCode
	}
	if r.Error != "" {
		out.Error = &r.Error
	}
	return out
}

func toDelivery(d notify.Delivery) *model.Delivery {
	return &model.Delivery{ID: d.ID, ChannelID: d.ChannelID, EventID: strconv.FormatInt(d.EventID, 10),
		Status: model.DeliveryStatus(d.Status), Attempts: d.Attempts, LastStatusCode: d.LastStatusCode,
		LastError: d.LastError, NextAttemptAt: d.NextAttemptAt, DeliveredAt: d.DeliveredAt, CreatedAt: d.CreatedAt}
}

// toDeliveryConnection pages deliveries; a delivery's id is its cursor.
func toDeliveryConnection(p *notify.Page) *model.DeliveryConnection {
	out := &model.DeliveryConnection{Edges: make([]*model.DeliveryEdge, len(p.Deliveries)), PageInfo: &model.PageInfo{HasNextPage: p.HasNext}}
	for i, d := range p.Deliveries {
		out.Edges[i] = &model.DeliveryEdge{Cursor: d.ID, Node: toDelivery(d)}
	}
	if n := len(p.Deliveries); n > 0 {
		out.PageInfo.EndCursor = &p.Deliveries[n-1].ID
	}
	return out
}

// derefOr returns *p, or def when p is nil.
func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// mapAll converts a slice with f.
func mapAll[T, M any](in []T, f func(T) M) []M {
	out := make([]M, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}
