package app

import (
	"net/http"

	"github.com/ottr/backend/internal/config"
	"github.com/ottr/backend/internal/slack"
	"github.com/ottr/backend/internal/slackinteract"
)

// withInteractions adds the Request URL of the projects' Slack apps to
// routes. Replies go only to response URLs under the configured prefixes,
// through a client whose dialer allows just their hosts.
func (a *App) withInteractions(routes map[string]http.Handler, channels *slack.Service) map[string]http.Handler {
	prefixes := a.Config.SlackResponseURLPrefixes
	if len(prefixes) == 0 {
		prefixes = []string{config.DefaultSlackResponseURLPrefix}
	}
	client := slack.NewClient(slack.Validator{Prefixes: prefixes}, slack.WithTimeout(a.Config.Delivery.HTTPTimeout),
		slack.WithResolver(a.Config.Delivery.Resolver))
	h := slackinteract.New(slackinteract.Options{Store: a.Store, Channels: channels, Approvals: a.Approvals,
		ResponsePrefixes: prefixes, Client: client, Logger: a.Logger})
	a.closers = append(a.closers, func() error { h.Wait(); return nil })
	for pattern, handler := range h.Routes() {
		routes[pattern] = handler
	}
	return routes
}
