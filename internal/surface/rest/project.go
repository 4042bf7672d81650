package rest

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
)

// projectJSON is the answer of GET /v1/project: the API key's project.
type projectJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// KeyScope is the request's key's: read or write.
	KeyScope string `json:"key_scope"`
}

func (a *API) getProject(w http.ResponseWriter, r *http.Request) {
	key, err := keyPrincipal(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	p, err := a.projects.Get(r.Context(), key.ProjectID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, projectJSON{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt.UTC(), KeyScope: strings.ToLower(string(key.Scope))})
}

// approvalsJSON is a page of GET /v1/approvals; next_cursor, when not
// null, is the cursor of the next page.
type approvalsJSON struct {
	Approvals  []approvalJSON `json:"approvals"`
	NextCursor *string        `json:"next_cursor"`
}

// listParams are the query parameters GET /v1/approvals takes.
var listParams = []string{"status", "key_prefix", "ref_id", "limit", "cursor"}

// listApprovals pages through the project's approvals, newest first.
func (a *API) listApprovals(w http.ResponseWriter, r *http.Request) {
	key, err := keyPrincipal(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	f, args, err := listQuery(r.URL.Query())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	got, err := a.approvals.List(r.Context(), key.ProjectID, f, args)
	if e, ok := apperr.As(err); ok && e.Field == "after" {
		err = apperr.Invalid("cursor", "cursor is not a cursor of this list: start again without it")
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := approvalsJSON{Approvals: make([]approvalJSON, len(got.Edges))}
	for i := range got.Edges {
		out.Approvals[i] = toApprovalJSON(&got.Edges[i].Node)
	}
	if got.HasNextPage {
		next := got.EndCursor()
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, out)
}

// listQuery reads GET /v1/approvals's parameters, reporting every problem
// with the value as sent. An unknown parameter is refused, so that a typo
// (keyPrefix) does not silently list everything.
func listQuery(q url.Values) (approval.Filter, page.Args, error) {
	var (
		f        approval.Filter
		args     page.Args
		problems apperr.Problems
	)
	names := slices.Sorted(maps.Keys(q))
	for _, name := range names {
		values := q[name]
		if !slices.Contains(listParams, name) {
			problems.Add(apperr.Invalid(name, "unknown query parameter %q: one of %s", name, strings.Join(listParams, ", ")))
		} else if len(values) > 1 {
			problems.Add(apperr.Invalid(name, "%s is given %d times; give it once", name, len(values)))
		}
	}
	if v, ok := q["status"]; ok {
		st := approval.Status(strings.ToUpper(v[0]))
		if v[0] != strings.ToLower(v[0]) || !st.Valid() {
			problems.Add(apperr.Invalid("status", "unknown status %q: one of pending, executed, expired, invalidated, locked", v[0]))
		} else {
			f.Status = &st
		}
	}
	if v, ok := q["key_prefix"]; ok {
		f.KeyPrefix = &v[0]
	}
	if v, ok := q["ref_id"]; ok {
		f.RefID = &v[0]
	}
	limit := approval.DefaultPageSize
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > page.MaxSize {
			problems.Add(apperr.Invalid("limit", "limit must be a whole number from 1 to %d, not %q", page.MaxSize, v[0]))
		}
		limit = n
	}
	args.First = &limit
	if v, ok := q["cursor"]; ok {
		args.After = &v[0]
	}
	if err := problems.Err(); err != nil {
		// Named as the client wrote them already.
		e, _ := apperr.As(err)
		return f, args, &bodyError{e}
	}
	return f, args, nil
}
