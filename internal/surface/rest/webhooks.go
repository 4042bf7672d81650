package rest

import (
	"net/http"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/webhook"
)

// webhookRoutes are the operations on the webhook endpoints of the API
// key's project. Reads take any key; writes a WRITE key (the service
// answers FORBIDDEN to a READ key). Another project's endpoint answers
// NOT_FOUND, as a missing one does.
func (a *API) webhookRoutes() []route {
	return []route{
		{http.MethodGet, "/v1/webhooks", []string{"/v1/webhooks"}, a.listWebhooks},
		{http.MethodPost, "/v1/webhooks", []string{"/v1/webhooks"}, a.addWebhook},
		{http.MethodPatch, "/v1/webhooks/{id}", []string{"/v1/webhooks/{id}"}, a.updateWebhook},
		{http.MethodDelete, "/v1/webhooks/{id}", []string{"/v1/webhooks/{id}"}, a.removeWebhook},
		{http.MethodPost, "/v1/webhooks/{id}/test", []string{"/v1/webhooks/{id}/test"}, a.testWebhook},
		{http.MethodPost, "/v1/webhooks/{id}/rotate-secret", []string{"/v1/webhooks/{id}/rotate-secret"}, a.rotateWebhookSecret},
	}
}

// webhookJSON is an endpoint as the API shows it: never its URL (only
// scheme and host) nor its secret.
type webhookJSON struct {
	ID                      string       `json:"id"`
	Name                    string       `json:"name"`
	URLMasked               string       `json:"url_masked"`
	Events                  []event.Type `json:"events"`
	Enabled                 bool         `json:"enabled"`
	DisabledReason          *string      `json:"disabled_reason"`
	CreatedAt               time.Time    `json:"created_at"`
	UpdatedAt               time.Time    `json:"updated_at"`
	LastDeliveryAt          *time.Time   `json:"last_delivery_at"`
	LastDeliveryStatus      *string      `json:"last_delivery_status"`
	LastError               *string      `json:"last_error"`
	PreviousSecretExpiresAt *time.Time   `json:"previous_secret_expires_at"`
}

func toWebhookJSON(e *webhook.Endpoint) webhookJSON {
	events := []event.Type(e.Events)
	if events == nil {
		events = []event.Type{}
	}
	return webhookJSON{ID: e.ID, Name: e.Name, URLMasked: e.Masked, Events: events, Enabled: e.Enabled,
		DisabledReason: e.DisabledReason, CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
		LastDeliveryAt: utc(e.LastDeliveryAt), LastDeliveryStatus: e.LastDeliveryStatus, LastError: e.LastError,
		PreviousSecretExpiresAt: utc(e.PreviousSecretExpiresAt)}
}

// webhookListJSON is the answer of GET /v1/webhooks.
type webhookListJSON struct {
	Webhooks []webhookJSON `json:"webhooks"`
}

// webhookSecretJSON is an endpoint with its signing secret, shown once:
// the answer of POST /v1/webhooks and of …/rotate-secret.
type webhookSecretJSON struct {
	Webhook webhookJSON `json:"webhook"`
	Secret  string      `json:"secret"`
}

// addWebhookRequest is the body of POST /v1/webhooks.
type addWebhookRequest struct {
	Name    string       `json:"name"`
	URL     string       `json:"url"`
	Events  []event.Type `json:"events"`
	Enabled *bool        `json:"enabled"`
}

// updateWebhookRequest is the body of PATCH /v1/webhooks/{id}: the fields
// given change, the others stay.
type updateWebhookRequest struct {
	Name    *string      `json:"name"`
	URL     *string      `json:"url"`
	Events  []event.Type `json:"events"`
	Enabled *bool        `json:"enabled"`
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) {
	read(a, w, r, a.webhooks.List, func(all []webhook.Endpoint) any { return webhookListJSON{Webhooks: each(all, toWebhookJSON)} })
}

func (a *API) addWebhook(w http.ResponseWriter, r *http.Request) {
	var in addWebhookRequest
	projectID, ok := a.keyBody(w, r, &in, false)
	if !ok {
		return
	}
	e, secret, err := a.webhooks.Add(r.Context(), projectID, webhook.AddInput{Name: in.Name, URL: in.URL, Events: in.Events,
		Enabled: in.Enabled == nil || *in.Enabled})
	if err == nil {
		w.Header().Set("Location", "/v1/webhooks/"+e.ID)
	}
	a.answer(w, r, err, http.StatusCreated, func() any { return webhookSecretJSON{Webhook: toWebhookJSON(e), Secret: secret} })
}

func (a *API) updateWebhook(w http.ResponseWriter, r *http.Request) {
	var in updateWebhookRequest
	if _, ok := a.keyBody(w, r, &in, false); !ok {
		return
	}
	id := r.PathValue("id")
	// Settings first: an invalid one leaves the endpoint as it was,
	// enabled or not.
	e, err := a.webhooks.Update(r.Context(), id, webhook.UpdateInput{Name: in.Name, URL: in.URL, Events: in.Events})
	if err == nil && in.Enabled != nil {
		e, err = a.webhooks.Toggle(r.Context(), id, *in.Enabled)
	}
	a.answer(w, r, err, http.StatusOK, func() any { return toWebhookJSON(e) })
}

func (a *API) removeWebhook(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.keyProject(w, r); ok {
		a.answerEmpty(w, r, a.webhooks.Remove(r.Context(), r.PathValue("id")))
	}
}

func (a *API) testWebhook(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.keyProject(w, r); !ok {
		return
	}
	res, err := a.webhooks.Test(r.Context(), r.PathValue("id"))
	a.answer(w, r, err, http.StatusOK, func() any { return toTestResultJSON(res) })
}

func (a *API) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) {
	_, overlap, ok := a.rotation(w, r)
	if !ok {
		return
	}
	e, secret, err := a.webhooks.RotateSecret(r.Context(), r.PathValue("id"), overlap)
	a.answer(w, r, err, http.StatusOK, func() any { return webhookSecretJSON{Webhook: toWebhookJSON(e), Secret: secret} })
}
