package notify

import (
	"context"
	"net/http"
	"time"

	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/store"
)

// Kind is a kind of channel that events are delivered to: Slack's
// incoming webhooks, or signed webhooks. A kind formats an event's
// message, posts it with the shared SSRF-safe client and classifies the
// answer into the shared outcomes; deliveries, attempts, retries (Next)
// and the delivery log are the same for every kind.
type Kind interface {
	// Name labels the kind's jobs (deliverArgs.Channel), logs and
	// metrics.
	Name() string
	// Format renders the message of the delivery's event.
	Format(ctx context.Context, t *target) (Message, error)
	// Post sends the message to the delivery's channel.
	Post(ctx context.Context, t *target, m Message) slack.Result
	// Classify says what the answer means.
	Classify(r slack.Result) slack.Outcome

	// tables names where the kind's channels and deliveries are stored.
	tables() kindTables
	// load reads a delivery with its channel and event, or nil when the
	// delivery or its channel is gone.
	load(ctx context.Context, w *worker, deliveryID string) (*target, error)
	// outcomeStmt records an attempt's consequence on the channel: its
	// last delivery and, with d.Disable, that it is disabled.
	outcomeStmt(t *target, d Decision, lastError string, now time.Time) store.Stmt
	// sustained is when the kind's channels are disabled for failing;
	// nil: never.
	sustained() *Sustained
}

// Message is a formatted request: its JSON body and the headers it needs.
type Message struct {
	Body   []byte
	Header http.Header
}

// kindTables are a kind's tables. Both kinds' delivery tables have the
// same columns, channel_id naming the kind's channel.
type kindTables struct {
	channels   string
	deliveries string
	attempts   string
}

// slackKind delivers to Slack incoming webhooks.
type slackKind struct {
	store    *store.Store
	client   *slack.Client
	channels *slack.Service
}

// kindSlack is the Name of Slack deliveries, and the one of jobs that name
// no kind.
const kindSlack = "slack"

func (slackKind) Name() string { return kindSlack }

func (slackKind) tables() kindTables {
	return kindTables{channels: "slack_channels", deliveries: "deliveries", attempts: "delivery_attempts"}
}

func (slackKind) load(ctx context.Context, w *worker, id string) (*target, error) {
	return w.load(ctx, id)
}

func (k slackKind) Format(ctx context.Context, t *target) (Message, error) {
	if err := decorate(ctx, k.store, t); err != nil {
		return Message{}, err
	}
	body, err := render(t)
	return Message{Body: body}, err
}

func (k slackKind) Post(ctx context.Context, t *target, m Message) slack.Result {
	url, err := k.channels.WebhookURL(&t.channel)
	if err != nil {
		return slack.Result{Err: err}
	}
	return k.client.Post(ctx, url, m.Body)
}

func (slackKind) Classify(r slack.Result) slack.Outcome { return slack.Classify(r) }

func (slackKind) outcomeStmt(t *target, d Decision, lastError string, _ time.Time) store.Stmt {
	return slack.OutcomeStmt(t.del.ChannelID, d.Status, lastError, d.Disable)
}

// Slack disables a channel only for the answers that say it is dead.
func (slackKind) sustained() *Sustained { return nil }

// tablesOf returns the tables of the kind named name; Slack's for a name
// this version does not know.
func tablesOf(name string) kindTables {
	switch name {
	case kindWebhook:
		return webhookKind{}.tables()
	case kindCallback:
		return callbackKind{}.tables()
	}
	return slackKind{}.tables()
}
