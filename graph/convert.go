package graph

import (
	"context"
	"strconv"

	"github.com/ottr/backend/graph/model"
	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/notify"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
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
	return &model.ProjectMember{ID: model.MemberID(m.ProjectID, m.UserID), ProjectID: m.ProjectID,
		User: toUser(m.User), Role: model.Role(m.Role), AddedAt: m.AddedAt}
}

func toAPIKey(k auth.APIKey) *model.APIKey {
	return &model.APIKey{ID: k.ID, Name: k.Name, Scope: model.APIKeyScope(k.Scope), Prefix: k.Prefix,
		CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

// toEventSelection keeps an absent selection (nil: unchanged) apart from
// an empty one (refused).
func toEventSelection(types []model.EventType) []event.Type {
	if types == nil {
		return nil
	}
	return toEventTypes(types)
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
		UpdatedAt: c.UpdatedAt, LastDeliveryAt: c.LastDeliveryAt, LastDeliveryStatus: status, LastError: c.LastError,
		Interactive: c.Interactive(), AllowedSlackUserIds: c.AllowedUsers(), Ordering: model.DeliveryOrdering(c.Ordering)}
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
		Status: model.DeliveryStatus(d.Status), Attempts: d.Attempts, UnknownOutcomeAttempts: d.UnknownAttempts, LastStatusCode: d.LastStatusCode,
		LastError: d.LastError, NextAttemptAt: d.NextAttemptAt, DeliveredAt: d.DeliveredAt, CreatedAt: d.CreatedAt}
}

func toDeliveryConnection(p page.Page[notify.Delivery]) *model.DeliveryConnection {
	return &model.DeliveryConnection{PageInfo: toPageInfo(p), TotalCount: totalOf(p), Edges: mapAll(p.Edges, func(e page.Edge[notify.Delivery]) *model.DeliveryEdge {
		return &model.DeliveryEdge{Cursor: e.Cursor, Node: toDelivery(e.Node)}
	})}
}

// mapAll converts a slice with f.
func mapAll[T, M any](in []T, f func(T) M) []M {
	out := make([]M, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func toAction(a approval.Action) *model.ApprovalAction {
	return &model.ApprovalAction{Key: a.Key, Value: a.Value, Label: a.Label, Style: model.ActionStyle(a.Style)}
}

func toOptionalAction(a *approval.Action) *model.ApprovalAction {
	if a == nil {
		return nil
	}
	return toAction(*a)
}

func toApproval(a approval.Approval) *model.Approval {
	return &model.Approval{
		ID: a.ID, ProjectID: a.ProjectID, KeyPath: a.KeyPath, Info: a.Info, RefID: a.RefID,
		Actions: mapAll(a.Actions, toAction), Status: model.ApprovalStatus(a.Status),
		CreatedAt: a.CreatedAt, ExpiresAt: a.ExpiresAt, PinRequired: a.PinRequired,
		MaxPinAttempts: a.MaxPinAttempts, FailedPinAttempts: a.FailedPinAttempts,
		ExecutedAction: toOptionalAction(a.ExecutedAction), ExecutedAt: a.ExecutedAt,
		InvalidatedAt: a.InvalidatedAt, InvalidationReason: a.InvalidationReason,
		Decision: toDecision(a.Decision, a.ProjectID), AllowLink: a.AllowLink, DeciderIDs: a.Deciders,
		RemindedAt: a.RemindedAt, Partial: a.Missing != 0,
	}
}

func toOptionalApproval(a *approval.Approval) *model.Approval {
	if a == nil {
		return nil
	}
	return toApproval(*a)
}

func toCreatedApproval(c *approval.Created) *model.CreatedApproval {
	return &model.CreatedApproval{Approval: toApproval(c.Approval), URL: c.URL, Token: c.Token}
}

func toCreateInput(in model.CreateApprovalInput) approval.CreateInput {
	out := approval.CreateInput{
		KeyPath: in.KeyPath, Value: in.Value, TTLSeconds: in.TTLSeconds, InitialValue: in.InitialValue,
		Info: in.Info, RefID: in.RefID, Pin: in.Pin, MaxPinAttempts: in.MaxPinAttempts,
		AllowLink: in.AllowLink, Deciders: in.Deciders, CallbackURL: in.CallbackURL,
	}
	if in.Actions != nil {
		out.Actions = make([]approval.ActionInput, len(in.Actions))
		for i, a := range in.Actions {
			out.Actions[i] = approval.ActionInput{Key: a.Key, Value: a.Value, Label: a.Label, Style: (*approval.Style)(a.Style)}
		}
	}
	return out
}

func toApprovalFilter(f *model.ApprovalFilter) approval.Filter {
	if f == nil {
		return approval.Filter{}
	}
	return approval.Filter{Status: (*approval.Status)(f.Status), KeyPrefix: f.KeyPrefix, RefID: f.RefID,
		CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore}
}

func toLink(l *approval.Link) *model.ApprovalLink {
	return &model.ApprovalLink{
		ProjectName: l.ProjectName, KeyPath: l.KeyPath, Info: l.Info, Actions: mapAll(l.Actions, toAction),
		Status: model.ApprovalStatus(l.Status), ExpiresAt: l.ExpiresAt, PinRequired: l.PinRequired,
		AttemptsRemaining: l.AttemptsRemaining, Nonce: l.Nonce,
	}
}

func toExecution(e *approval.Execution) *model.ApprovalExecution {
	return &model.ApprovalExecution{Status: model.ApprovalStatus(e.Status), Action: toOptionalAction(e.Action),
		AttemptsRemaining: e.AttemptsRemaining}
}

func toKeyValue(kv approval.KeyValue) *model.KeyValue {
	return &model.KeyValue{ProjectID: kv.ProjectID, Path: kv.Path, Value: kv.Value, UpdatedAt: kv.UpdatedAt}
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

// toPageArgs is the paging arguments of a connection field; the total is
// counted only when the operation asks for totalCount, and the edges'
// cursors are made only when it asks for them.
// A field's default first (the contract's "first: Int = 20") gives way to
// an explicit last, so that last alone pages backward.
func toPageArgs(ctx context.Context, first *int, after *string, last *int, before *string) page.Args {
	if last != nil && !explicit(ctx, "first") {
		first = nil
	}
	return page.Args{First: first, After: after, Last: last, Before: before, Total: selected(ctx, "totalCount"),
		EndCursorsOnly: !selected(ctx, "edges", "cursor")}
}

func toPageInfo[T any](p page.Page[T]) *model.PageInfo {
	info := &model.PageInfo{HasNextPage: p.HasNextPage, HasPreviousPage: p.HasPreviousPage}
	if start := p.StartCursor(); start != "" {
		info.StartCursor = &start
	}
	if end := p.EndCursor(); end != "" {
		info.EndCursor = &end
	}
	return info
}

// totalOf is the page's totalCount, 0 when it was not asked for (and so is
// not sent).
func totalOf[T any](p page.Page[T]) int {
	if p.TotalCount == nil {
		return 0
	}
	return *p.TotalCount
}

func toApprovalConnection(p page.Page[approval.Approval]) *model.ApprovalConnection {
	return &model.ApprovalConnection{PageInfo: toPageInfo(p), TotalCount: totalOf(p), Edges: mapAll(p.Edges, func(e page.Edge[approval.Approval]) *model.ApprovalEdge {
		return &model.ApprovalEdge{Cursor: e.Cursor, Node: toApproval(e.Node)}
	})}
}

func toKeyValueConnection(p page.Page[approval.KeyValue]) *model.KeyValueConnection {
	return &model.KeyValueConnection{PageInfo: toPageInfo(p), TotalCount: totalOf(p), Edges: mapAll(p.Edges, func(e page.Edge[approval.KeyValue]) *model.KeyValueEdge {
		return &model.KeyValueEdge{Cursor: e.Cursor, Node: toKeyValue(e.Node)}
	})}
}

func toEventConnection(p page.Page[event.Event]) *model.EventConnection {
	return &model.EventConnection{PageInfo: toPageInfo(p), TotalCount: totalOf(p), Edges: mapAll(p.Edges, func(e page.Edge[event.Event]) *model.EventEdge {
		return &model.EventEdge{Cursor: e.Cursor, Node: toEvent(e.Node)}
	})}
}

func toProjectConnection(p page.Page[project.Project]) *model.ProjectConnection {
	return &model.ProjectConnection{PageInfo: toPageInfo(p), TotalCount: totalOf(p), Edges: mapAll(p.Edges, func(e page.Edge[project.Project]) *model.ProjectEdge {
		return &model.ProjectEdge{Cursor: e.Cursor, Node: toProject(e.Node)}
	})}
}

func toMemberConnection(p page.Page[project.MemberWithUser]) *model.ProjectMemberConnection {
	return &model.ProjectMemberConnection{PageInfo: toPageInfo(p), TotalCount: totalOf(p), Edges: mapAll(p.Edges, func(e page.Edge[project.MemberWithUser]) *model.ProjectMemberEdge {
		return &model.ProjectMemberEdge{Cursor: e.Cursor, Node: toMember(e.Node)}
	})}
}

func toAPIKeyConnection(p page.Page[auth.APIKey]) *model.APIKeyConnection {
	return &model.APIKeyConnection{PageInfo: toPageInfo(p), TotalCount: totalOf(p), Edges: mapAll(p.Edges, func(e page.Edge[auth.APIKey]) *model.APIKeyEdge {
		return &model.APIKeyEdge{Cursor: e.Cursor, Node: toAPIKey(e.Node)}
	})}
}

func toSlackChannelConnection(p page.Page[slack.Channel]) *model.SlackChannelConnection {
	return &model.SlackChannelConnection{PageInfo: toPageInfo(p), TotalCount: totalOf(p), Edges: mapAll(p.Edges, func(e page.Edge[slack.Channel]) *model.SlackChannelEdge {
		return &model.SlackChannelEdge{Cursor: e.Cursor, Node: toSlackChannel(e.Node)}
	})}
}

// toEventFilter merges the events field's types argument into its filter;
// giving both is ambiguous.
func toEventFilter(types []model.EventType, f *model.EventFilter) (event.ListFilter, error) {
	out := event.ListFilter{Types: toEventTypes(types)}
	if f == nil {
		return out, nil
	}
	if len(types) > 0 && len(f.Types) > 0 {
		return out, apperr.Invalid("filter", "give types or filter.types, not both")
	}
	if len(f.Types) > 0 {
		out.Types = toEventTypes(f.Types)
	}
	out.KeyPath, out.ApprovalID, out.OccurredAfter, out.OccurredBefore = f.KeyPath, f.ApprovalID, f.OccurredAfter, f.OccurredBefore
	return out, nil
}
