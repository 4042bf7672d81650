package notify

import (
	"context"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/domain/webhook"
	"github.com/ottr/backend/internal/platform/store"
)

// kindWebhook is the Name of webhook deliveries.
const kindWebhook = "webhook"

// DefaultWebhookSustained is when sustained failure disables a webhook
// endpoint: 3 deliveries in a row
// given up on (each after all its attempts, about a day of retries) and
// nothing delivered for at least 24 h. A receiver that is down for a
// weekend therefore stops receiving, and its owner sees disabledReason,
// instead of the queue retrying into the void forever.
var DefaultWebhookSustained = Sustained{Deliveries: 3, For: 24 * time.Hour}

// webhookKind delivers signed requests to webhook endpoints.
type webhookKind struct {
	store     *store.Store
	endpoints *webhook.Service
	sustain   Sustained
}

func (webhookKind) Name() string { return kindWebhook }

func (webhookKind) tables() kindTables {
	return kindTables{channels: "webhook_endpoints", deliveries: "webhook_deliveries", attempts: "webhook_delivery_attempts"}
}

func (k webhookKind) sustained() *Sustained { return &k.sustain }

// webhookTarget is what a webhook delivery needs beyond the event.
type webhookTarget struct {
	endpoint    webhook.Endpoint
	projectName string
	approval    *webhook.ApprovalFacts
}

func (webhookKind) Format(_ context.Context, t *target) (Message, error) {
	if t.detailsErr != nil {
		return Message{}, t.detailsErr
	}
	body, err := webhook.NewPayload(*t.event, t.webhook.projectName, t.webhook.approval).JSON()
	return Message{Body: body}, err
}

// Post signs the request with the endpoint's secrets as of now; the
// webhook-id is the delivery's, the same on every retry, so receivers can
// tell a retry from a new event.
func (k webhookKind) Post(ctx context.Context, t *target, m Message) slack.Result {
	now := time.Now()
	secrets, err := k.endpoints.Secrets(&t.webhook.endpoint, now)
	if err != nil {
		return slack.Result{Err: err}
	}
	u, err := k.endpoints.URL(&t.webhook.endpoint)
	if err != nil {
		return slack.Result{Err: err}
	}
	return webhook.Post(ctx, k.endpoints.Client(), u, t.del.ID, now, m.Body, secrets)
}

func (webhookKind) Classify(r slack.Result) slack.Outcome { return webhook.Classify(r) }

func (webhookKind) outcomeStmt(t *target, d Decision, lastError string, now time.Time) store.Stmt {
	return webhook.OutcomeStmt(t.del.ChannelID, d.Status, lastError, d.Disable, d.Step == StepFailed, now)
}

// addWebhookDeliveries inserts, in ctx's transaction, a webhook delivery
// and its job for every enabled endpoint that selected an event's type
// and existed when the event occurred, and returns how many it made.
func (d *Dispatcher) addWebhookDeliveries(ctx context.Context, events []event.Event) (int, error) {
	if d.endpoints == nil {
		return 0, nil
	}
	var projects []string
	seen := map[string]bool{}
	for _, ev := range events {
		if !seen[ev.ProjectID] {
			seen[ev.ProjectID] = true
			projects = append(projects, ev.ProjectID)
		}
	}
	endpoints, err := webhook.EnabledOf(ctx, d.store, projects)
	if err != nil || len(endpoints) == 0 {
		return 0, err
	}
	now := store.Now()
	var rows []Delivery
	for i := range events {
		ev := &events[i]
		for _, e := range endpoints[ev.ProjectID] {
			if !e.Selects(ev.Type) || e.CreatedAt.After(ev.OccurredAt) {
				continue
			}
			rows = append(rows, Delivery{ID: store.NewID(), ChannelID: e.ID, EventID: ev.ID, Status: slack.StatusPending, CreatedAt: now,
				OrderedBy: orderedBy(e.Ordering, ev)})
		}
	}
	return d.enqueue(ctx, kindWebhook, rows)
}
