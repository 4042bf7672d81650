package rest_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// The benchmarks run on PostgreSQL behind a real HTTP listener, one request
// after another: an op is a full round trip (client, HTTP, handler,
// transaction, response). Six rounds, each running every benchmark once,
// so that a shared machine's load weighs on all alike:
//
//	for i in 1 2 3 4 5 6; do go test -run '^$' -bench . -benchmem -benchtime 2s -count 1 ./internal/surface/rest/; done
//
// cpu-µs/op is this process's CPU per op (client and server; not
// PostgreSQL's). Baseline* is the irreducible work of the same request: a
// bare net/http handler that decodes the JSON, looks the API key up by its
// hash and, in one transaction, writes the rows a create must write (the
// key, the approval, its event and the NOTIFY that tells other instances;
// with an Idempotency-Key, the key's row too), then answers the link.

const benchBody = `{"key_path": "bench/deploy", "info": "Deploy to production?", "ttl_seconds": 1800,
	"actions": [{"key": "deploy", "value": "approved", "label": "Deploy", "style": "primary"},
	            {"key": "cancel", "value": "rejected", "label": "Cancel", "style": "danger"}]}`

func benchFixture(b *testing.B) (*testserver.Server, string, string) {
	if storetest.SQLiteOnly() {
		b.Skip("OTTR_TEST_SQLITE_ONLY=1: the benchmarks measure PostgreSQL")
	}
	cfg := testserver.Config(b, store.Postgres)
	srv := testserver.StartWith(b, cfg)
	owner := srv.SignUp("Owner")
	pid := owner.CreateProject("Bench")
	_, key := owner.CreateAPIKey(pid, "WRITE")
	return srv, cfg.DatabaseURL, key
}

// post sends one create and checks its status.
func post(b *testing.B, client *http.Client, url, key, idempotencyKey string) {
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/approvals", strings.NewReader(benchBody))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("create: %d %s", resp.StatusCode, body)
	}
}

func BenchmarkCreate(b *testing.B) {
	srv, _, key := benchFixture(b)
	defer reportCPU(b)()
	for b.Loop() {
		post(b, http.DefaultClient, srv.URL, key, "")
	}
}

// BenchmarkCreateIdempotent sends a new Idempotency-Key each time: the
// claim, the approval and the claim's completion in one transaction.
func BenchmarkCreateIdempotent(b *testing.B) {
	srv, _, key := benchFixture(b)
	defer reportCPU(b)()
	i := 0
	for b.Loop() {
		i++
		post(b, http.DefaultClient, srv.URL, key, "bench-"+strconv.Itoa(i))
	}
}

// BenchmarkCreateReplay sends the same Idempotency-Key each time: every op
// but the first is a replay.
func BenchmarkCreateReplay(b *testing.B) {
	srv, _, key := benchFixture(b)
	defer reportCPU(b)()
	for b.Loop() {
		post(b, http.DefaultClient, srv.URL, key, "bench-replay")
	}
}

func BenchmarkBaselineCreate(b *testing.B)           { benchBaseline(b, false) }
func BenchmarkBaselineCreateIdempotent(b *testing.B) { benchBaseline(b, true) }

func benchBaseline(b *testing.B, idempotent bool) {
	_, dbURL, key := benchFixture(b)
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	ts := httptest.NewServer(baselineHandler(db, idempotent))
	b.Cleanup(ts.Close)
	defer reportCPU(b)()
	i := 0
	for b.Loop() {
		i++
		post(b, http.DefaultClient, ts.URL, key, "bench-"+strconv.Itoa(i))
	}
}

// baselineHandler does only what a create cannot do without.
func baselineHandler(db *sql.DB, idempotent bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var in struct {
			KeyPath    string          `json:"key_path"`
			Info       string          `json:"info"`
			TTLSeconds int             `json:"ttl_seconds"`
			Actions    json.RawMessage `json:"actions"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256([]byte(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")))
		var projectID string
		if err := db.QueryRowContext(ctx, `SELECT project_id FROM api_keys WHERE secret_hash = $1`, hex.EncodeToString(sum[:])).Scan(&projectID); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		tokenBytes := make([]byte, 32)
		_, _ = rand.Read(tokenBytes)
		token := base64.RawURLEncoding.EncodeToString(tokenBytes)
		tokenHash := sha256.Sum256([]byte(token))
		id, now := store.NewID(), time.Now().UTC()
		err := inTx(ctx, db, func(tx *sql.Tx) error {
			if idempotent {
				if _, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (project_id, request_key, fingerprint, link_seed, approval_id, created_at)
					VALUES ($1, $2, '', '', NULL, $3)`, projectID, r.Header.Get("Idempotency-Key"), now); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO key_values (project_id, path, value, updated_at) VALUES ($1, $2, NULL, $3)
				ON CONFLICT DO NOTHING`, projectID, in.KeyPath, now); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO approvals (id, project_id, key_path, info, actions, status, created_at, expires_at, token_hash, max_pin_attempts)
				VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, $7, $8, 5)`, id, projectID, in.KeyPath, in.Info, string(in.Actions), now,
				now.Add(time.Duration(in.TTLSeconds)*time.Second), hex.EncodeToString(tokenHash[:])); err != nil {
				return err
			}
			var eventID int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO events (type, occurred_at, project_id, approval_id, key_path)
				VALUES ('APPROVAL_CREATED', $1, $2, $3, $4) RETURNING id`, now, projectID, id, in.KeyPath).Scan(&eventID); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `SELECT pg_notify('bench_baseline', $1)`, strconv.FormatInt(eventID, 10))
			return err
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%q,"url":%q}`, id, "http://"+r.Host+"/a/"+token)
	})
}

// reportCPU, deferred before the loop, reports the CPU time this process
// (client and server alike; PostgreSQL's is not in it) used per op: on a
// shared machine it moves less than the wall time does.
func reportCPU(b *testing.B) func() {
	start := processCPU(b)
	return func() {
		b.ReportMetric(float64((processCPU(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
	}
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
