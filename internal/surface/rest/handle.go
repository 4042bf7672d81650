package rest

import (
	"context"
	"net/http"
	"time"

	"github.com/ottr/backend/internal/domain/channelkind"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/webhook"
	"github.com/ottr/backend/internal/platform/apperr"
)

// The steps most handlers take: find the API key's project, read the
// body, call a service, answer. Each helper answers a failure itself and
// says so by returning false, so a handler reads as its happy path.

// keyProject is the project of the request's API key.
func (a *API) keyProject(w http.ResponseWriter, r *http.Request) (string, bool) {
	projectID, err := project.KeyProject(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return "", false
	}
	return projectID, true
}

// keyBody is keyProject for a request with a body: the body is read (and
// must be UTF-8) and, unless in is nil, decoded into in; optional lets an
// empty body stand for {}.
func (a *API) keyBody(w http.ResponseWriter, r *http.Request, in any, optional bool) (string, bool) {
	projectID, body, err := keyRequest(r)
	if err == nil && in != nil {
		err = decodeJSON(body, in, optional)
	}
	if err != nil {
		a.writeError(w, r, err)
		return "", false
	}
	return projectID, true
}

// answer writes the service's error, or show's value with status.
func (a *API) answer(w http.ResponseWriter, r *http.Request, err error, status int, show func() any) {
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, status, show())
}

// read answers a read of the key's project: get loads it, show shapes
// it.
func read[T any](a *API, w http.ResponseWriter, r *http.Request, get func(ctx context.Context, projectID string) (T, error), show func(T) any) {
	if projectID, ok := a.keyProject(w, r); ok {
		got, err := get(r.Context(), projectID)
		a.answer(w, r, err, http.StatusOK, func() any { return show(got) })
	}
}

// each shows every row of a list.
func each[R, J any](rows []R, show func(*R) J) []J {
	out := make([]J, len(rows))
	for i := range rows {
		out[i] = show(&rows[i])
	}
	return out
}

// answerEmpty writes the service's error, or 204 No Content.
func (a *API) answerEmpty(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// testResultJSON is a channel's or an endpoint's answer to a test
// message: the answer of POST …/test.
type testResultJSON struct {
	OK         bool    `json:"ok"`
	StatusCode *int    `json:"status_code"`
	Error      *string `json:"error"`
	LatencyMS  int64   `json:"latency_ms"`
}

func toTestResultJSON(res *channelkind.TestResult) testResultJSON {
	out := testResultJSON{OK: res.OK, LatencyMS: res.Latency.Milliseconds()}
	if res.StatusCode != 0 {
		out.StatusCode = &res.StatusCode
	}
	if res.Error != "" {
		out.Error = &res.Error
	}
	return out
}

// rotateRequest is the optional body of a secret's rotation.
type rotateRequest struct {
	OverlapSeconds *int `json:"overlap_seconds"`
}

// rotation reads a rotation's request: the key's project and the overlap
// asked for, nil when not given.
func (a *API) rotation(w http.ResponseWriter, r *http.Request) (string, *time.Duration, bool) {
	var in rotateRequest
	projectID, ok := a.keyBody(w, r, &in, true)
	if !ok {
		return "", nil, false
	}
	overlap, err := in.overlap()
	if err != nil {
		a.writeError(w, r, err)
		return "", nil, false
	}
	return projectID, overlap, true
}

// overlap is the rotation's overlap_seconds as a duration, nil when not
// given. It is bounded before it becomes a Duration, which a huge number
// would overflow into an accepted one.
func (in rotateRequest) overlap() (*time.Duration, error) {
	if in.OverlapSeconds == nil {
		return nil, nil
	}
	if s := *in.OverlapSeconds; s < 0 || s > int(webhook.MaxRotationOverlap/time.Second) {
		return nil, apperr.Invalid("overlap_seconds", "overlap_seconds must be 0 to %d", int(webhook.MaxRotationOverlap/time.Second))
	}
	d := time.Duration(*in.OverlapSeconds) * time.Second
	return &d, nil
}
