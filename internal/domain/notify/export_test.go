package notify

import (
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/store"
)

// FanoutLock is the advisory lock the fan-out's batches take turns under.
const FanoutLock = fanoutLock

// SettleStmts are the worker's writes settling a delivery that was
// delivered, of the kind named kind ("slack", "webhook"), in the order it
// makes them.
func SettleStmts(kind, deliveryID, channelID string) []store.Stmt {
	var k Kind = slackKind{}
	if kind == kindWebhook {
		k = webhookKind{}
	}
	r := slack.Result{StatusCode: 200, Body: "ok"}
	now := store.Now()
	t := &target{del: Delivery{ID: deliveryID, ChannelID: channelID}}
	return settleStmts(k, t, r, k.Classify(r), Decision{Step: StepDelivered, Status: slack.StatusDelivered},
		settled{deliveredAt: &now}, now)
}
