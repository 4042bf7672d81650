package rest

import (
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
)

// pendingSuffix ends the path of a key's pending approval. A key whose
// last segment is "pending" is read with that slash escaped (a%2Fpending).
const pendingSuffix = "/pending"

// getKey answers GET /v1/key/{key_path}, the key's value as a JSON string
// (null when an approval named the key but nothing set it yet), and GET
// /v1/key/{key_path}/pending.
func (a *API) getKey(w http.ResponseWriter, r *http.Request) {
	projectID, err := project.KeyProject(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	path := r.PathValue("path")
	if strings.HasSuffix(r.URL.EscapedPath(), pendingSuffix) && path != strings.TrimPrefix(pendingSuffix, "/") {
		a.getPending(w, r, projectID, strings.TrimSuffix(path, pendingSuffix))
		return
	}
	kv, err := a.approvals.Keys().Get(r.Context(), projectID, path)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if kv == nil {
		a.writeError(w, r, apperr.NotFound("key"))
		return
	}
	writeJSON(w, http.StatusOK, kv.Value)
}

// pendingJSON is the answer of GET /v1/key/{key_path}/pending; pending is
// null when the key has no approval waiting.
type pendingJSON struct {
	Pending *pendingApproval `json:"pending"`
}

type pendingApproval struct {
	ApprovalID string    `json:"approval_id"`
	ExpiresAt  time.Time `json:"expires_at"`
}

func (a *API) getPending(w http.ResponseWriter, r *http.Request, projectID, path string) {
	p, err := a.approvals.Keys().PendingFor(r.Context(), projectID, path)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var out pendingJSON
	if p != nil {
		out.Pending = &pendingApproval{ApprovalID: p.ID, ExpiresAt: p.ExpiresAt.UTC()}
	}
	writeJSON(w, http.StatusOK, out)
}

// putKey sets a key. The body is the value: as sent, or, with a JSON
// content type, a JSON string. The answer is the value as GET reads it.
func (a *API) putKey(w http.ResponseWriter, r *http.Request) {
	projectID, body, err := keyRequest(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	value := string(body)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		if err := decodeJSON(body, &value, false); err != nil {
			msg := "with Content-Type application/json the body must be a JSON string"
			if e, ok := apperr.As(err); ok && !strings.Contains(e.Message, "must be a JSON") {
				msg += ": " + e.Message
			}
			a.writeError(w, r, apperr.Invalid("value", "%s", msg))
			return
		}
	}
	kv, err := a.approvals.Keys().Set(r.Context(), projectID, r.PathValue("path"), value)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, kv.Value)
}

// keyRequest is the project of the request's API key and the request's
// body, the start of every REST write.
func keyRequest(r *http.Request) (projectID string, body []byte, err error) {
	if projectID, err = project.KeyProject(r.Context()); err != nil {
		return "", nil, err
	}
	body, err = readBody(r)
	return projectID, body, err
}

// readBody reads the request body (httpserver caps its size). JSON and
// the text of a value are UTF-8: other bytes are refused here rather than
// replaced.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, apperr.Invalid("body", "could not read the request body")
	}
	if !utf8.Valid(body) {
		return nil, apperr.TextNotUTF8.Refusal("body", "the request body")
	}
	return body, nil
}
