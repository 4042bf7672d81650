package graph

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ottr/backend/internal/platform/apperr"
)

// GraphQL over HTTP as its specification says
// (https://graphql.github.io/graphql-over-http/draft/), for both response
// media types alike:
//   - a request error (the body, the document, the variables or the
//     operation is refused before anything runs) answers 400 (405 for a
//     mutation over GET, 415 for a body that is not JSON) with the errors
//     and no "data" entry;
//   - an operation that ran answers 200 with its data, field errors
//     beside it.
//
// The specification requires this of application/graphql-response+json
// and allows it for application/json; one rule for both lets a client
// read a status the same whichever it asked for. Every error carries
// extensions.code, those of the transports included.
//
// gqlgen's own POST and GET transports (v0.17.98) answer 422 or 200 for
// request errors as application/json, with "data": null, and errors of
// their own without a code.

const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// responseMediaType is the response media type the client accepts, in the
// order of its Accept header; application/json when it names neither.
func responseMediaType(r *http.Request) string {
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case mediaJSON, mediaGraphQLResponse:
			return mediaType
		}
	}
	return mediaJSON
}

// postTransport serves POST with a JSON body.
type postTransport struct{}

var _ graphql.Transport = postTransport{}

func (postTransport) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" || r.Method != http.MethodPost {
		return false
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mediaType == mediaJSON
}

func (postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	w.Header().Set("Content-Type", responseMediaType(r))
	start := graphql.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// The body limit answered already; a client that went away reads nothing.
		return
	}
	params := &graphql.RawParams{Headers: r.Header}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '[' {
		writeRequestError(w, r, exec, http.StatusBadRequest, "batched requests are not supported: send one operation per request")
		return
	}
	if err := decodeJSON(bytes.NewReader(body), params); err != nil {
		writeRequestError(w, r, exec, http.StatusBadRequest,
			"the body must be one JSON object with query and optionally variables, operationName and extensions")
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	runOperation(w, r, exec, params, false)
}

// getTransport serves GET with the request in the query string; it runs
// queries only.
type getTransport struct{}

var _ graphql.Transport = getTransport{}

func (getTransport) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "" && r.Method == http.MethodGet
}

func (getTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	w.Header().Set("Content-Type", responseMediaType(r))
	start := graphql.Now()
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeRequestError(w, r, exec, http.StatusBadRequest, "the query string is not valid URL encoding")
		return
	}
	params := &graphql.RawParams{Query: query.Get("query"), OperationName: query.Get("operationName"), Headers: r.Header}
	for name, into := range map[string]*map[string]any{"variables": &params.Variables, "extensions": &params.Extensions} {
		if v := query.Get(name); v != "" {
			if err := decodeJSON(strings.NewReader(v), into); err != nil {
				writeRequestError(w, r, exec, http.StatusBadRequest, name+" must be a JSON object")
				return
			}
		}
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	runOperation(w, r, exec, params, true)
}

// unsupportedTransport answers what no other transport takes: another
// method, or a POST body that is not JSON.
type unsupportedTransport struct{}

var _ graphql.Transport = unsupportedTransport{}

func (unsupportedTransport) Supports(*http.Request) bool { return true }

func (unsupportedTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	w.Header().Set("Content-Type", responseMediaType(r))
	switch {
	case r.Header.Get("Upgrade") != "":
		writeRequestError(w, r, exec, http.StatusBadRequest, "websocket subprotocol not supported: use graphql-transport-ws or graphql-ws")
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", "GET, POST")
		writeRequestError(w, r, exec, http.StatusMethodNotAllowed, "use GET or POST")
	default:
		writeRequestError(w, r, exec, http.StatusUnsupportedMediaType, "send the request as application/json")
	}
}

// runOperation runs one operation and writes its answer.
func runOperation(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, params *graphql.RawParams, queriesOnly bool) {
	ctx := r.Context()
	oc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		writeErrors(w, http.StatusBadRequest, exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs))
		return
	}
	if queriesOnly && oc.Operation != nil && oc.Operation.Operation != ast.Query {
		w.Header().Set("Allow", "POST")
		writeRequestError(w, r, exec, http.StatusMethodNotAllowed, "GET runs queries only: send "+string(oc.Operation.Operation)+"s with POST")
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, oc)
	resp := responses(ctx)
	if resp == nil {
		return // the client has gone
	}
	if len(resp.Data) == 0 {
		// Nothing ran: a request error.
		writeErrors(w, http.StatusBadRequest, resp)
		return
	}
	w.WriteHeader(http.StatusOK)
	writeResponse(w, resp)
}

// writeResponse writes the answer of an operation that ran. Its data is
// JSON already, written by the executor, so it is copied as it is rather
// than parsed and compacted again by encoding/json (3.5 % of a page's CPU
// in its profile); it is escaped for HTML as encoding/json would have. The errors and
// extensions, small, go through encoding/json. An incremental answer
// (@defer's label, path or hasNext) is written whole by encoding/json.
func writeResponse(w io.Writer, resp *graphql.Response) {
	if resp.Label != "" || resp.Path != nil || resp.HasNext != nil {
		writeJSONBody(w, resp)
		return
	}
	var errs, ext []byte
	var err error
	if len(resp.Errors) > 0 {
		if errs, err = json.Marshal(resp.Errors); err != nil {
			writeJSONBody(w, resp)
			return
		}
	}
	if len(resp.Extensions) > 0 {
		if ext, err = json.Marshal(resp.Extensions); err != nil {
			writeJSONBody(w, resp)
			return
		}
	}
	var out bytes.Buffer
	out.Grow(len(resp.Data) + len(errs) + len(ext) + 40)
	out.WriteByte('{')
	if errs != nil {
		out.WriteString(`"errors":`)
		out.Write(errs)
		out.WriteByte(',')
	}
	out.WriteString(`"data":`)
	json.HTMLEscape(&out, resp.Data)
	if ext != nil {
		out.WriteString(`,"extensions":`)
		out.Write(ext)
	}
	out.WriteByte('}')
	_, _ = w.Write(out.Bytes())
}

// writeRequestError answers a request refused before GraphQL could read
// it; the message describes the request only. The error presenter gives
// it its code.
func writeRequestError(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, status int, message string) {
	gqlErr := &gqlerror.Error{Message: message}
	errcode.Set(gqlErr, string(apperr.CodeBadUserInput))
	writeErrors(w, status, exec.DispatchError(r.Context(), gqlerror.List{gqlErr}))
}

// writeErrors writes a response without data: no "data" entry at all, as
// the specification says of request errors.
func writeErrors(w http.ResponseWriter, status int, resp *graphql.Response) {
	w.WriteHeader(status)
	writeJSONBody(w, struct {
		Errors     gqlerror.List  `json:"errors"`
		Extensions map[string]any `json:"extensions,omitempty"`
	}{resp.Errors, resp.Extensions})
}

func writeJSONBody(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value is JSON already (data is marshalled by the executor).
		b = []byte(`{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}`)
	}
	_, _ = w.Write(b)
}

// decodeJSON decodes one JSON value, numbers as json.Number (the
// variable checks tell integers from fractions by their text).
func decodeJSON(r io.Reader, into any) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return dec.Decode(into)
}
