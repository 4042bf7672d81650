package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/store"
)

// readApprovals is how many approvals the read scenario reads, in turn.
const readApprovals = 200

const approvalQuery = `query($id: ID!) { approval(id: $id) { ` + approvalSelection + ` } }`

// runRead: approval(id) over HTTP with a WRITE key, against a minimal
// net/http handler that authenticates the key and reads the approval with
// the same SQL, and answers the same JSON. Both serve from a process of
// the same kind (child processes, or this one with -server inproc) and are
// driven by the same HTTP client.
func runRead(ctx context.Context, e *env, r *Report) error {
	srv, p, err := e.setUp(ctx)
	if err != nil {
		return err
	}
	client := newGQLClient(srv.url, p.WriteKey, e.opts.concurrency)
	defer client.close()
	ids := make(chan string, readApprovals)
	var seq atomic.Int64
	err = parallel(ctx, readApprovals, e.opts.concurrency, func(ctx context.Context) error {
		var out struct {
			CreateApproval struct{ Approval struct{ ID string } }
		}
		body := request(createMutation, map[string]any{"p": p.ID, "i": approvalInput(fmt.Sprintf("bench/read/%d", seq.Add(1)))})
		if err := client.do(ctx, body, &out); err != nil {
			return fmt.Errorf("create the approvals to read: %w", err)
		}
		ids <- out.CreateApproval.Approval.ID
		return nil
	})
	if err != nil {
		return err
	}
	close(ids)
	var approvals []string
	for id := range ids {
		approvals = append(approvals, id)
	}
	base, err := e.startReadBaseline(ctx)
	if err != nil {
		return err
	}
	baseClient := newGQLClient(base.url, p.WriteKey, e.opts.concurrency)
	defer baseClient.close()

	var next atomic.Int64
	pick := func() string { return approvals[int(next.Add(1))%len(approvals)] }
	ours := sideSpec{name: "ours", proc: srv.proc, profiled: true, op: func(ctx context.Context, _ int) error {
		var out approvalResponse
		if err := client.do(ctx, request(approvalQuery, map[string]any{"id": pick()}), &out); err != nil {
			return err
		}
		return out.found()
	}}
	baseline := sideSpec{name: "baseline", proc: base.proc, op: func(ctx context.Context, _ int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.url+"/approval?id="+pick(), nil)
		if err != nil {
			return err
		}
		var out approvalResponse
		if err := baseClient.send(req, &out); err != nil {
			return err
		}
		return out.found()
	}}
	r.Notes = append(r.Notes, "the baseline does what approval(id) needs and no more: the API key's SELECT, the "+
		"approval's SELECT, the JSON; it does not stamp the key's lastUsedAt (the server does once a minute)")
	return e.compare(ctx, r, ours, baseline)
}

// approvalResponse is the data of approval(id), from either side.
type approvalResponse struct {
	Approval *approvalJSON `json:"approval"`
}

// found checks an answer: every approval read was created, so it must be
// there.
func (r *approvalResponse) found() error {
	if r.Approval == nil {
		return errors.New("approval not found")
	}
	return nil
}

// startReadBaseline runs the read baseline's server: a child process of
// this tool when the server under test is one, else in this process.
func (e *env) startReadBaseline(ctx context.Context) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if e.opts.server == serverChild && e.opts.url == "" {
		args := []string{baselineServerCommand, "-addr", addr, "-db", string(e.dialect),
			"-database-url", e.dbURL, "-data-dir", e.dataDir, "-conns", strconv.Itoa(e.opts.concurrency)}
		return e.startTool(ctx, "baseline", addr, args, "/healthz")
	}
	db, err := e.openDirect(ctx, e.opts.concurrency)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	e.serveInProcess(ln, baselineHandler(db), func() error { return nil })
	return &server{url: "http://" + addr, proc: &proc{pid: os.Getpid(), shared: true}}, nil
}

// baselineServerCommand is `ottr-bench baseline-server`, which the tool
// runs as a child process; it is not meant to be run by hand.
const baselineServerCommand = "baseline-server"

// serveBaseline runs the read baseline's handler until ctx ends.
func serveBaseline(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ottr-bench "+baselineServerCommand, flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	dialect := fs.String("db", string(store.Postgres), "postgres or sqlite")
	dbURL := fs.String("database-url", "", "PostgreSQL database")
	dataDir := fs.String("data-dir", "", "SQLite data directory")
	conns := fs.Int("conns", 16, "database connections")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := connect(ctx, store.Dialect(*dialect), *dbURL, *dataDir, *conns)
	if err != nil {
		return err
	}
	defer db.close()
	srv := &http.Server{Addr: *addr, Handler: baselineHandler(db), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// baselineHandler is the minimal hand-written server of the read
// baseline: GET /approval?id= with the bearer API key answers what
// approval(id) answers. GET /page serves the page's ceiling (servePage).
func baselineHandler(db *direct) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /page", servePage(db))
	mux.HandleFunc("GET /approval", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		secret, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		key, err := scanKey(db.db().queryRow(ctx, db.stmt(sqlKeyByHash), auth.HashToken(secret)))
		if err != nil || key.RevokedAt != nil {
			http.Error(w, `{"errors":[{"message":"invalid API key","extensions":{"code":"UNAUTHENTICATED"}}]}`, http.StatusUnauthorized)
			return
		}
		var resp struct {
			Data approvalResponse `json:"data"`
		}
		a, err := scanApproval(db.db().queryRow(ctx, db.stmt(sqlApprovalByID), r.URL.Query().Get("id")))
		switch {
		case err == nil && a.ProjectID == key.ProjectID:
			if resp.Data.Approval, err = a.toJSON(store.Now()); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		case err == nil, errors.Is(err, pgx.ErrNoRows), errors.Is(err, sql.ErrNoRows):
			// Another project's approval reads as absent, like a missing one.
		default:
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&resp)
	})
	return mux
}
