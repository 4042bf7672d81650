package httpserver

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ottr/backend/graph"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/metrics"
)

// A handler that panics answers INTERNAL with the request id of the log
// line that holds the panic, over real HTTP.
func TestPanicAnswersInternalWithTheRequestID(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var errs apperr.Writers
	errs.Register("", graph.WriteRequestError)
	h := logRequests(logger, metrics.New(), NewClientAddress(nil), recoverPanics(logger, &errs, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	})))
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("X-Request-Id", "req-panic-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Errors []struct {
			Message    string
			Extensions map[string]string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusInternalServerError || len(out.Errors) != 1 || out.Errors[0].Message != "internal error" ||
		out.Errors[0].Extensions["code"] != "INTERNAL" || out.Errors[0].Extensions["requestId"] != "req-panic-1" {
		t.Fatalf("%d %+v, want 500 INTERNAL with requestId req-panic-1", resp.StatusCode, out)
	}
}
