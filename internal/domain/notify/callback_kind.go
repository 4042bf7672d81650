package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/domain/webhook"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
	"github.com/ottr/backend/internal/platform/store"
)

// kindCallback is the Name of per-approval callback deliveries.
const kindCallback = "callback"

// callbackKind delivers an approval's events to the callback URL it was
// created with: the requests of webhook endpoints (same payload, Standard
// Webhooks headers, webhook-id the delivery's), signed with the project's
// callback secret. Its "channel" is the approval.
type callbackKind struct {
	store  *store.Store
	keys   *slack.Keyring
	client *slack.Client
}

func (callbackKind) Name() string { return kindCallback }

func (callbackKind) tables() kindTables {
	return kindTables{channels: "approvals", deliveries: "callback_deliveries", attempts: "callback_delivery_attempts"}
}

// An approval lives for its TTL: its callback is never disabled for
// failing, only cleared by an answer that says it is dead (410 Gone).
func (callbackKind) sustained() *Sustained { return nil }

// callbackTarget is what a callback delivery needs beyond the event.
type callbackTarget struct {
	projectID   string
	urlEnc      string
	keyVersion  int
	projectName string
	approval    *webhook.ApprovalFacts
}

func (callbackKind) Format(_ context.Context, t *target) (Message, error) {
	if t.detailsErr != nil {
		return Message{}, t.detailsErr
	}
	body, err := webhook.NewPayload(*t.event, t.callback.projectName, t.callback.approval).JSON()
	return Message{Body: body}, err
}

// Post signs with the project's callback secrets as of now; webhook-id is
// the delivery's, the same on every retry.
func (k callbackKind) Post(ctx context.Context, t *target, m Message) slack.Result {
	now := time.Now()
	secrets, err := webhook.CallbackSigningSecrets(ctx, k.store, k.keys, t.callback.projectID, now)
	if err != nil {
		return slack.Result{Err: err}
	}
	u, err := k.keys.Decrypt(t.callback.urlEnc, t.callback.keyVersion)
	if err != nil {
		return slack.Result{Err: fmt.Errorf("callback of approval %s: %w", t.del.ChannelID, err)}
	}
	return webhook.Post(ctx, k.client, u, t.del.ID, now, m.Body, secrets)
}

func (callbackKind) Classify(r slack.Result) slack.Outcome { return webhook.Classify(r) }

// outcomeStmt clears the approval's callback when the answer says it is
// dead (410 Gone, or a URL the rules now refuse), so that its later
// events are skipped; otherwise it changes nothing.
func (callbackKind) outcomeStmt(t *target, d Decision, _ string, _ time.Time) store.Stmt {
	return store.Stmt{SQL: "UPDATE approvals SET callback_url_enc = NULL, callback_key_version = NULL WHERE id = ? AND ?",
		Args: []any{t.del.ChannelID, d.Disable != ""}}
}

// addCallbackDeliveries inserts, in ctx's transaction, a callback delivery
// and its job for every event of an approval that has a callback, and
// returns how many it made.
func (d *Dispatcher) addCallbackDeliveries(ctx context.Context, events []event.Event) (int, error) {
	if d.callbacks == nil {
		return 0, nil
	}
	var ids []string
	for _, ev := range events {
		if ev.ApprovalID != nil {
			ids = append(ids, *ev.ApprovalID)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	var withCallback []string
	if err := d.store.DB(ctx).Table("approvals").Where("id IN ? AND callback_url_enc IS NOT NULL", ids).Pluck("id", &withCallback).Error; err != nil {
		return 0, fmt.Errorf("find the approvals with a callback among %d: %w", len(ids), err)
	}
	if len(withCallback) == 0 {
		return 0, nil
	}
	has := make(map[string]bool, len(withCallback))
	for _, id := range withCallback {
		has[id] = true
	}
	now := store.Now()
	var rows []Delivery
	for _, ev := range events {
		if ev.ApprovalID != nil && has[*ev.ApprovalID] {
			// A callback serves one approval: its messages keep their order.
			rows = append(rows, Delivery{ID: store.NewID(), ChannelID: *ev.ApprovalID, EventID: ev.ID, Status: slack.StatusPending,
				CreatedAt: now, OrderedBy: ev.ApprovalID})
		}
	}
	return d.enqueue(ctx, kindCallback, rows)
}

// CallbackDeliveries lists the deliveries of an approval's callback,
// newest first, optionally of one status only, to whoever may read the
// approval.
func (d *Dispatcher) CallbackDeliveries(ctx context.Context, approvals *approval.Service, approvalID string, status *string, args page.Args) (page.Page[Delivery], error) {
	a, err := approvals.Get(ctx, approvalID)
	if err != nil {
		return page.Page[Delivery]{}, err
	}
	// Deliveries tell how the project is wired: not for READ keys.
	if _, err := d.authz.Authorize(ctx, a.ProjectID, project.ReadSettings); err != nil {
		return page.Page[Delivery]{}, err
	}
	return d.listDeliveries(ctx, d.store.DB(ctx).Table(tablesOf(kindCallback).deliveries).Where("channel_id = ?", approvalID), status, args)
}

// RedeliverCallback is Redeliver for a callback delivery: the same
// webhook-id, a new timestamp and signature. Whoever may invalidate the
// approval may send its callbacks again.
func (d *Dispatcher) RedeliverCallback(ctx context.Context, approvals *approval.Service, id string) (*Delivery, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return nil, err
	}
	return d.redeliver(ctx, kindCallback, id, func(ctx context.Context, approvalID string) error {
		a, err := approvals.Get(ctx, approvalID)
		if err != nil {
			return err
		}
		_, err = d.authz.Authorize(ctx, a.ProjectID, project.WriteData)
		return err
	})
}
