package rest

import (
	"net/http"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/webhook"
	"github.com/ottr/backend/internal/platform/apperr"
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

// rotateWebhookRequest is the optional body of …/rotate-secret.
type rotateWebhookRequest struct {
	OverlapSeconds *int `json:"overlap_seconds"`
}

// webhookTestJSON is the endpoint's answer to a test request.
type webhookTestJSON struct {
	OK         bool    `json:"ok"`
	StatusCode *int    `json:"status_code"`
	Error      *string `json:"error"`
	LatencyMS  int64   `json:"latency_ms"`
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) {
	projectID, err := project.KeyProject(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	all, err := a.webhooks.List(r.Context(), projectID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := webhookListJSON{Webhooks: make([]webhookJSON, len(all))}
	for i := range all {
		out.Webhooks[i] = toWebhookJSON(&all[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) addWebhook(w http.ResponseWriter, r *http.Request) {
	projectID, body, err := keyRequest(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var in addWebhookRequest
	if err := decodeJSON(body, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	e, secret, err := a.webhooks.Add(r.Context(), projectID, webhook.AddInput{Name: in.Name, URL: in.URL, Events: in.Events,
		Enabled: in.Enabled == nil || *in.Enabled})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/webhooks/"+e.ID)
	writeJSON(w, http.StatusCreated, webhookSecretJSON{Webhook: toWebhookJSON(e), Secret: secret})
}

func (a *API) updateWebhook(w http.ResponseWriter, r *http.Request) {
	_, body, err := keyRequest(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var in updateWebhookRequest
	if err := decodeJSON(body, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	// Settings first: an invalid one leaves the endpoint as it was,
	// enabled or not.
	e, err := a.webhooks.Update(r.Context(), id, webhook.UpdateInput{Name: in.Name, URL: in.URL, Events: in.Events})
	if err == nil && in.Enabled != nil {
		e, err = a.webhooks.Toggle(r.Context(), id, *in.Enabled)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toWebhookJSON(e))
}

func (a *API) removeWebhook(w http.ResponseWriter, r *http.Request) {
	if _, err := project.KeyProject(r.Context()); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.webhooks.Remove(r.Context(), r.PathValue("id")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) testWebhook(w http.ResponseWriter, r *http.Request) {
	if _, err := project.KeyProject(r.Context()); err != nil {
		a.writeError(w, r, err)
		return
	}
	res, err := a.webhooks.Test(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := webhookTestJSON{OK: res.OK, LatencyMS: res.Latency.Milliseconds()}
	if res.StatusCode != 0 {
		out.StatusCode = &res.StatusCode
	}
	if res.Error != "" {
		out.Error = &res.Error
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) {
	_, body, err := keyRequest(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var in rotateWebhookRequest
	if err := decodeJSON(body, &in, true); err != nil {
		a.writeError(w, r, err)
		return
	}
	overlap, err := in.overlap()
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	e, secret, err := a.webhooks.RotateSecret(r.Context(), r.PathValue("id"), overlap)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookSecretJSON{Webhook: toWebhookJSON(e), Secret: secret})
}

// overlap is the rotation's overlap_seconds as a duration, nil when not
// given. It is bounded before it becomes a Duration, which a huge number
// would overflow into an accepted one.
func (in rotateWebhookRequest) overlap() (*time.Duration, error) {
	if in.OverlapSeconds == nil {
		return nil, nil
	}
	if s := *in.OverlapSeconds; s < 0 || s > int(webhook.MaxRotationOverlap/time.Second) {
		return nil, apperr.Invalid("overlap_seconds", "overlap_seconds must be 0 to %d", int(webhook.MaxRotationOverlap/time.Second))
	}
	d := time.Duration(*in.OverlapSeconds) * time.Second
	return &d, nil
}
