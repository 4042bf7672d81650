package notify

import (
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/store"
)

// FanoutLock is the advisory lock the fan-out's batches take turns under.
const FanoutLock = fanoutLock

// SettleStmts are the worker's writes settling a Slack delivery that was
// delivered, in the order it makes them.
func SettleStmts(deliveryID, channelID string) []store.Stmt {
	r := slack.Result{StatusCode: 200, Body: "ok"}
	now := store.Now()
	t := &target{del: Delivery{ID: deliveryID, ChannelID: channelID}}
	return settleStmts(slackKind{}, t, r, slack.Classify(r), Decision{Step: StepDelivered, Status: slack.StatusDelivered},
		settled{deliveredAt: &now}, now)
}
