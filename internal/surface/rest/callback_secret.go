package rest

import (
	"net/http"
	"time"

	"github.com/ottr/backend/internal/domain/webhook"
	"github.com/ottr/backend/internal/platform/store"
)

// callbackSecretRoutes read and rotate the secret that signs the callbacks
// of the key's project (callback_url on POST /v1/approvals), as GraphQL's
// rotateCallbackSecret does. Both take a WRITE key: how a project is wired
// is not a value a READ key reads.
func (a *API) callbackSecretRoutes() []route {
	return []route{
		{http.MethodGet, "/v1/callback-secret", []string{"/v1/callback-secret"}, a.getCallbackSecret},
		{http.MethodPost, "/v1/callback-secret/rotate", []string{"/v1/callback-secret/rotate"}, a.rotateCallbackSecret},
	}
}

// callbackSecretJSON is what the API shows of the callback secret: never
// the secret itself, except once, in Secret, after a rotation.
type callbackSecretJSON struct {
	// Exists is false until the first rotation, or the first approval
	// with a callback_url, creates the secret.
	Exists                  bool       `json:"exists"`
	CreatedAt               *time.Time `json:"created_at"`
	UpdatedAt               *time.Time `json:"updated_at"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	Secret                  *string    `json:"secret,omitempty"`
}

func toCallbackSecretJSON(s *webhook.CallbackSecret) callbackSecretJSON {
	if s == nil {
		return callbackSecretJSON{}
	}
	out := callbackSecretJSON{Exists: true, CreatedAt: &s.CreatedAt, UpdatedAt: &s.UpdatedAt}
	if s.PreviousSecretExpiresAt != nil && store.Now().Before(*s.PreviousSecretExpiresAt) {
		out.PreviousSecretExpiresAt = s.PreviousSecretExpiresAt
	}
	return out
}

func (a *API) getCallbackSecret(w http.ResponseWriter, r *http.Request) {
	read(a, w, r, a.callbacks.Secret, func(s *webhook.CallbackSecret) any { return toCallbackSecretJSON(s) })
}

func (a *API) rotateCallbackSecret(w http.ResponseWriter, r *http.Request) {
	projectID, overlap, ok := a.rotation(w, r)
	if !ok {
		return
	}
	s, secret, err := a.callbacks.RotateSecret(r.Context(), projectID, overlap)
	a.answer(w, r, err, http.StatusOK, func() any {
		out := toCallbackSecretJSON(s)
		out.Secret = &secret
		return out
	})
}
