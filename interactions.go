package ottr

import (
	"context"
	"net/http"
	"time"

	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/surface/slackinteract"
)

// replyGrace is how long a shutdown lets the replies to Slack clicks
// under way finish before cancelling them.
const replyGrace = 5 * time.Second

// newInteractions builds the Request URL of the projects' Slack apps.
// Replies go only to response URLs under the configured prefixes, through
// a client whose dialer allows just their hosts.
func (a *App) newInteractions(channels *slack.Service) *slackinteract.Handler {
	prefixes := a.Config.SlackResponseURLPrefixes
	if len(prefixes) == 0 {
		prefixes = []string{config.DefaultSlackResponseURLPrefix}
	}
	client := slack.NewClient(slack.Validator{Prefixes: prefixes}, slack.WithTimeout(a.Config.Delivery.HTTPTimeout),
		slack.WithResolver(a.Config.Delivery.Resolver))
	return slackinteract.New(slackinteract.Options{Store: a.Store, Channels: channels, Approvals: a.Approvals,
		ResponsePrefixes: prefixes, Client: client, Logger: a.Logger})
}

// withInteractions adds the interactions handler's routes to routes.
func (a *App) withInteractions(routes map[string]http.Handler) map[string]http.Handler {
	for pattern, handler := range a.interactions.Routes() {
		routes[pattern] = handler
	}
	return routes
}

// closeInteractions stops the replies to clicks, letting those under way
// finish for a while. They read the store: Close calls this before
// anything else closes.
func (a *App) closeInteractions() {
	if a.interactions == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), replyGrace)
	defer cancel()
	a.interactions.Close(ctx)
	a.interactions = nil
}
