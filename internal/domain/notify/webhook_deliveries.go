package notify

import (
	"context"

	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
)

// WebhookDeliveries lists an endpoint's deliveries, newest first,
// optionally of one status only.
func (d *Dispatcher) WebhookDeliveries(ctx context.Context, endpointID string, status *string, args page.Args) (page.Page[Delivery], error) {
	if _, err := d.endpoints.Get(ctx, endpointID, project.ReadSettings); err != nil {
		return page.Page[Delivery]{}, err
	}
	return d.listDeliveries(ctx, d.store.DB(ctx).Table(tablesOf(kindWebhook).deliveries).Where("channel_id = ?", endpointID), status, args)
}

// WebhookDelivery returns one webhook delivery of a project the caller can
// read; another tenant's answers NOT_FOUND like a missing one.
func (d *Dispatcher) WebhookDelivery(ctx context.Context, id string) (*Delivery, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return nil, err
	}
	if d.endpoints == nil {
		return nil, apperr.NotFound("delivery")
	}
	del, err := d.loadDeliveryIn(ctx, tablesOf(kindWebhook), id)
	if err != nil {
		return nil, err
	}
	if _, err := d.endpoints.Get(ctx, del.ChannelID, project.ReadSettings); err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound("delivery")
		}
		return nil, err
	}
	return del, nil
}

// RedeliverWebhook is Redeliver for a webhook delivery: the same
// webhook-id, a new timestamp and signature.
func (d *Dispatcher) RedeliverWebhook(ctx context.Context, id string) (*Delivery, error) {
	return d.redeliver(ctx, kindWebhook, id, func(ctx context.Context, endpointID string) error {
		_, err := d.endpoints.Get(ctx, endpointID, project.ManageSlack)
		return err
	})
}
