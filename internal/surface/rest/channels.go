package rest

import (
	"net/http"
	"strings"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/slack"
)

// channelJSON is a Slack channel as the API shows it; the webhook URL is
// masked, as everywhere.
type channelJSON struct {
	ID                 string     `json:"id"`
	Name               string     `json:"name"`
	WebhookURL         string     `json:"webhook_url"`
	Events             []string   `json:"events"`
	Enabled            bool       `json:"enabled"`
	DisabledReason     *string    `json:"disabled_reason"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	LastDeliveryAt     *time.Time `json:"last_delivery_at"`
	LastDeliveryStatus *string    `json:"last_delivery_status"`
}

func toChannelJSON(c *slack.Channel) channelJSON {
	out := channelJSON{ID: c.ID, Name: c.Name, WebhookURL: c.Masked, Events: make([]string, len(c.Events)),
		Enabled: c.Enabled, DisabledReason: c.DisabledReason, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),
		LastDeliveryAt: utc(c.LastDeliveryAt)}
	for i, t := range c.Events {
		out.Events[i] = strings.ToLower(string(t))
	}
	if c.LastDeliveryStatus != nil {
		s := strings.ToLower(*c.LastDeliveryStatus)
		out.LastDeliveryStatus = &s
	}
	return out
}

// channelsJSON is the answer of GET /v1/slack/channels.
type channelsJSON struct {
	Channels []channelJSON `json:"channels"`
}

func (a *API) listChannels(w http.ResponseWriter, r *http.Request) {
	read(a, w, r, a.channels.List, func(list []slack.Channel) any { return channelsJSON{Channels: each(list, toChannelJSON)} })
}

// putChannelRequest is the body of PUT /v1/slack/channels/{name}.
type putChannelRequest struct {
	WebhookURL *string   `json:"webhook_url"`
	Events     *[]string `json:"events"`
	Enabled    *bool     `json:"enabled"`
}

// putChannel creates the channel called {name} or brings it to the body:
// 201 when it was created, 200 otherwise, with the channel either way.
func (a *API) putChannel(w http.ResponseWriter, r *http.Request) {
	var in putChannelRequest
	projectID, ok := a.keyBody(w, r, &in, true)
	if !ok {
		return
	}
	put := slack.PutInput{WebhookURL: in.WebhookURL, Enabled: in.Enabled}
	if in.Events != nil {
		put.Events = eventTypes(*in.Events)
	}
	c, created, err := a.channels.Put(r.Context(), projectID, r.PathValue("name"), put)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	a.answer(w, r, err, status, func() any { return toChannelJSON(c) })
}

// eventTypes reads the API's event names (approval_created, …); any other
// name reaches the domain as sent, which refuses it quoting it so.
func eventTypes(names []string) []event.Type {
	out := make([]event.Type, len(names))
	for i, n := range names {
		out[i] = event.Type(n)
		if up := event.Type(strings.ToUpper(n)); n == strings.ToLower(n) && up.Valid() {
			out[i] = up
		}
	}
	return out
}

// testChannel answers POST /v1/slack/channels/{name}/test.
func (a *API) testChannel(w http.ResponseWriter, r *http.Request) {
	c, ok := a.namedChannel(w, r)
	if !ok {
		return
	}
	res, err := a.channels.Test(r.Context(), c.ID)
	a.answer(w, r, err, http.StatusOK, func() any { return toTestResultJSON(res) })
}

func (a *API) deleteChannel(w http.ResponseWriter, r *http.Request) {
	if c, ok := a.namedChannel(w, r); ok {
		a.answerEmpty(w, r, a.channels.Remove(r.Context(), c.ID))
	}
}

// namedChannel finds the channel of the path's {name} for a request that
// changes it, answering the error itself.
func (a *API) namedChannel(w http.ResponseWriter, r *http.Request) (*slack.Channel, bool) {
	projectID, ok := a.keyBody(w, r, nil, false)
	if !ok {
		return nil, false
	}
	c, err := a.channels.ByName(r.Context(), projectID, r.PathValue("name"), project.ManageSlack)
	if err != nil {
		a.writeError(w, r, err)
		return nil, false
	}
	return c, true
}
