package graph

import (
	"strconv"

	"github.com/ottr/backend/graph/model"
	"github.com/ottr/backend/internal/domain/notify"
	"github.com/ottr/backend/internal/domain/webhook"
	"github.com/ottr/backend/internal/platform/page"
)

func toWebhookEndpoint(e webhook.Endpoint) *model.WebhookEndpoint {
	events := make([]model.EventType, len(e.Events))
	for i, t := range e.Events {
		events[i] = model.EventType(t)
	}
	var status *model.DeliveryStatus
	if e.LastDeliveryStatus != nil {
		s := model.DeliveryStatus(*e.LastDeliveryStatus)
		status = &s
	}
	return &model.WebhookEndpoint{ID: e.ID, ProjectID: e.ProjectID, Name: e.Name, URLMasked: e.Masked, Events: events,
		Enabled: e.Enabled, DisabledReason: e.DisabledReason, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
		LastDeliveryAt: e.LastDeliveryAt, LastDeliveryStatus: status, LastError: e.LastError,
		PreviousSecretExpiresAt: e.PreviousSecretExpiresAt, Ordering: model.DeliveryOrdering(e.Ordering)}
}

func toWebhookEndpointConnection(p page.Page[webhook.Endpoint]) *model.WebhookEndpointConnection {
	return &model.WebhookEndpointConnection{PageInfo: toPageInfo(p), TotalCount: totalOf(p), Edges: mapAll(p.Edges, func(e page.Edge[webhook.Endpoint]) *model.WebhookEndpointEdge {
		return &model.WebhookEndpointEdge{Cursor: e.Cursor, Node: toWebhookEndpoint(e.Node)}
	})}
}

func toWebhookDelivery(d notify.Delivery) *model.WebhookDelivery {
	return &model.WebhookDelivery{ID: d.ID, EndpointID: d.ChannelID, EventID: strconv.FormatInt(d.EventID, 10),
		Status: model.DeliveryStatus(d.Status), Attempts: d.Attempts, UnknownOutcomeAttempts: d.UnknownAttempts, LastStatusCode: d.LastStatusCode,
		LastError: d.LastError, NextAttemptAt: d.NextAttemptAt, DeliveredAt: d.DeliveredAt, CreatedAt: d.CreatedAt}
}

func toWebhookDeliveryConnection(p page.Page[notify.Delivery]) *model.WebhookDeliveryConnection {
	return &model.WebhookDeliveryConnection{PageInfo: toPageInfo(p), TotalCount: totalOf(p), Edges: mapAll(p.Edges, func(e page.Edge[notify.Delivery]) *model.WebhookDeliveryEdge {
		return &model.WebhookDeliveryEdge{Cursor: e.Cursor, Node: toWebhookDelivery(e.Node)}
	})}
}

func toWebhookTestResult(r webhook.TestResult) *model.WebhookTestResult {
	out := &model.WebhookTestResult{Ok: r.OK, LatencyMs: int(r.Latency.Milliseconds())}
	if r.StatusCode != 0 {
		out.StatusCode = &r.StatusCode
	}
	if r.Error != "" {
		out.Error = &r.Error
	}
	return out
}

func toCallbackDelivery(d notify.Delivery) *model.CallbackDelivery {
	return &model.CallbackDelivery{ID: d.ID, ApprovalID: d.ChannelID, EventID: strconv.FormatInt(d.EventID, 10),
		Status: model.DeliveryStatus(d.Status), Attempts: d.Attempts, UnknownOutcomeAttempts: d.UnknownAttempts, LastStatusCode: d.LastStatusCode,
		LastError: d.LastError, NextAttemptAt: d.NextAttemptAt, DeliveredAt: d.DeliveredAt, CreatedAt: d.CreatedAt}
}

func toCallbackDeliveryConnection(p page.Page[notify.Delivery]) *model.CallbackDeliveryConnection {
	return &model.CallbackDeliveryConnection{PageInfo: toPageInfo(p), TotalCount: totalOf(p), Edges: mapAll(p.Edges, func(e page.Edge[notify.Delivery]) *model.CallbackDeliveryEdge {
		return &model.CallbackDeliveryEdge{Cursor: e.Cursor, Node: toCallbackDelivery(e.Node)}
	})}
}

// toDeliveryLogEntry is a delivery of the log as its kind's type.
func toDeliveryLogEntry(e notify.LogEntry) model.DeliveryLogEntry {
	switch e.Kind {
	case notify.LogWebhook:
		return toWebhookDelivery(e.Delivery)
	case notify.LogCallback:
		return toCallbackDelivery(e.Delivery)
	}
	return toDelivery(e.Delivery)
}

func toDeliveryLogConnection(p page.Page[notify.LogEntry]) *model.DeliveryLogConnection {
	return &model.DeliveryLogConnection{PageInfo: toPageInfo(p), TotalCount: totalOf(p), Edges: mapAll(p.Edges, func(e page.Edge[notify.LogEntry]) *model.DeliveryLogEdge {
		return &model.DeliveryLogEdge{Cursor: e.Cursor, Node: toDeliveryLogEntry(e.Node)}
	})}
}
