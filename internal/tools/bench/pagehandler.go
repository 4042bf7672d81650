package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The page's minimal handler: GET /page?project=&n= answers the data of
// pageQuery, the newest n approvals of the project with their events,
// from the three reads the answer cannot do without (the project, its
// approvals' four shown columns, their events' three) and nothing else:
// no credential, no GraphQL, encoding/json. PostGraphile checks no
// credential either, so the two serve the same work, and the handler's
// rate is the most any Go server can make of the page on this machine.

const (
	sqlPageProject   = `SELECT id, name FROM projects WHERE id = $1`
	sqlPageApprovals = `SELECT id, key_path, status, expires_at FROM approvals WHERE project_id = $1 ` +
		`ORDER BY created_at DESC, id DESC LIMIT $2`
	sqlPageEvents = `SELECT id, type, occurred_at, approval_id FROM events ` +
		`WHERE project_id = $1 AND approval_id = ANY($2) ORDER BY id`
)

// pageJSON is the data of pageQuery, from ours or from the handler.
type pageJSON struct {
	Project *pageProjectJSON `json:"project"`
}

type pageProjectJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Approvals struct {
		Edges []pageEdgeJSON `json:"edges"`
	} `json:"approvals"`
}

type pageEdgeJSON struct {
	Node struct {
		ID        string          `json:"id"`
		KeyPath   string          `json:"keyPath"`
		Status    string          `json:"status"`
		ExpiresAt string          `json:"expiresAt"`
		Events    []pageEventJSON `json:"events"`
	} `json:"node"`
}

type pageEventJSON struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	OccurredAt string `json:"occurredAt"`
}

// check wants a full page whose approvals have one event each.
func (p *pageJSON) check() error {
	if p.Project == nil {
		return errors.New("project not found")
	}
	edges := p.Project.Approvals.Edges
	return checkPage(len(edges), func(i int) int { return len(edges[i].Node.Events) })
}

// servePage answers GET /page.
func servePage(db *direct) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 1 || n > 100 {
			http.Error(w, "n: 1 to 100", http.StatusBadRequest)
			return
		}
		var resp struct {
			Data pageJSON `json:"data"`
		}
		if resp.Data, err = readPage(r.Context(), db, r.URL.Query().Get("project"), n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&resp)
	}
}

// readPage reads a page in three statements: the project, its newest n
// approvals, their events.
func readPage(ctx context.Context, db *direct, projectID string, n int) (pageJSON, error) {
	var out pageJSON
	p := &pageProjectJSON{}
	if err := db.db().queryRow(ctx, db.stmt(sqlPageProject), projectID).Scan(&p.ID, &p.Name); err != nil {
		return out, fmt.Errorf("read project: %w", err)
	}
	now := time.Now()
	edges := make([]pageEdgeJSON, 0, n)
	ids := make([]string, 0, n)
	at := map[string]int{}
	err := db.db().query(ctx, func(r row) error {
		var e pageEdgeJSON
		var expires time.Time
		if err := r.Scan(&e.Node.ID, &e.Node.KeyPath, &e.Node.Status, &expires); err != nil {
			return err
		}
		if e.Node.Status == "PENDING" && !now.Before(expires) {
			e.Node.Status = "EXPIRED"
		}
		e.Node.ExpiresAt = expires.UTC().Format(time.RFC3339Nano)
		e.Node.Events = []pageEventJSON{}
		at[e.Node.ID] = len(edges)
		edges = append(edges, e)
		ids = append(ids, e.Node.ID)
		return nil
	}, db.stmt(sqlPageApprovals), projectID, n)
	if err != nil {
		return out, fmt.Errorf("read approvals: %w", err)
	}
	err = db.db().query(ctx, func(r row) error {
		var ev pageEventJSON
		var id int64
		var occurred time.Time
		var approvalID string
		if err := r.Scan(&id, &ev.Type, &occurred, &approvalID); err != nil {
			return err
		}
		ev.ID, ev.OccurredAt = strconv.FormatInt(id, 10), occurred.UTC().Format(time.RFC3339Nano)
		i := at[approvalID]
		edges[i].Node.Events = append(edges[i].Node.Events, ev)
		return nil
	}, db.stmt(sqlPageEvents), projectID, ids)
	if err != nil {
		return out, fmt.Errorf("read events: %w", err)
	}
	p.Approvals.Edges = edges
	out.Project = p
	return out, nil
}
