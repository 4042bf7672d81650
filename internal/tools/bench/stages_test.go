package bench

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// TestReadWebhookStages writes the rows of a few deliveries with known
// times and checks each stage's deliveries and percentiles: only the
// measured events' deliveries to the run's endpoints count, a retried
// job's queue and pickup are left out, and so is an attempt still in
// flight's request.
func TestReadWebhookStages(t *testing.T) {
	if storetest.SQLiteOnly() {
		t.Skip("the webhooks scenario runs on PostgreSQL only")
	}
	t.Parallel()
	ctx := context.Background()
	dbURL, _ := storetest.NewDatabase(t, store.Postgres)
	s, err := store.Open(ctx, dbURL, "")
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		t.Fatalf("River's migrations: %v", err)
	}
	q := pgxQuerier{pool}
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := q.exec(ctx, query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := func(n float64) time.Time { return t0.Add(time.Duration(math.Round(n*1e3)) * time.Microsecond) }
	exec(`INSERT INTO projects (id, name, created_at) VALUES ('p', 'bench', $1)`, t0)
	for _, id := range []string{"run", "other"} {
		exec(`INSERT INTO webhook_endpoints (id, project_id, name, url_enc, key_version, secret_enc, secret_key_version, events, enabled, created_at, updated_at)
			VALUES ($1, 'p', $1, 'x', 1, 'x', 1, 'APPROVAL_CREATED', true, $2, $2)`, id, t0)
	}
	type attempt struct {
		at       time.Time
		duration int
		outcome  string
	}
	type job struct {
		created, attempted time.Time
		attempt            int
	}
	delivery := func(id, endpoint string, n int64, occurred, created time.Time, j *job, attempts ...attempt) {
		t.Helper()
		var eventID int64
		if err := q.queryRow(ctx, `INSERT INTO events (type, occurred_at, project_id, key_path) VALUES ('APPROVAL_CREATED', $1, 'p', $2) RETURNING id`,
			occurred, dispatchKeyPath(n)).Scan(&eventID); err != nil {
			t.Fatal(err)
		}
		var jobID *int64
		if j != nil {
			jobID = new(int64)
			if err := q.queryRow(ctx, `INSERT INTO river_job (args, kind, max_attempts, state, attempt, created_at, scheduled_at, attempted_at, finalized_at)
				VALUES ('{}', 'deliver', 5, 'completed', $1, $2, $2, $3, $3) RETURNING id`, j.attempt, j.created, j.attempted).Scan(jobID); err != nil {
				t.Fatal(err)
			}
		}
		exec(`INSERT INTO webhook_deliveries (id, channel_id, event_id, status, created_at, job_id) VALUES ($1, $2, $3, 'DELIVERED', $4, $5)`,
			id, endpoint, eventID, created, jobID)
		for _, a := range attempts {
			exec(`INSERT INTO webhook_delivery_attempts (delivery_id, attempted_at, duration_ms, outcome) VALUES ($1, $2, $3, $4)`,
				id, a.at, a.duration, a.outcome)
		}
	}
	// Fan-out 1, 2, 3, 4, 5 ms; queue 10, 20, 30 ms (the fourth job ran
	// twice, the fifth delivery has none yet); pickup 0.1, 0.2, 0.3 ms;
	// request 5, 6 (its first attempt's), 8 ms (the third's is in flight).
	delivery("d1", "run", 1, t0, ms(1), &job{ms(1), ms(11), 1}, attempt{ms(11.1), 5, "delivered"})
	delivery("d2", "run", 2, t0, ms(2), &job{ms(2), ms(22), 1}, attempt{ms(22.2), 6, "retryable"}, attempt{ms(500), 99, "delivered"})
	delivery("d3", "run", 3, t0, ms(3), &job{ms(3), ms(33), 1}, attempt{ms(33.3), 0, "started"})
	delivery("d4", "run", 4, t0, ms(4), &job{ms(4), ms(3000), 2}, attempt{ms(44.4), 8, "delivered"})
	delivery("d5", "run", 5, t0, ms(5), nil)
	// Not the run's measured deliveries: a warm-up event's, and one to an
	// endpoint of another run with a measured event's key path.
	hour := ms(3600e3)
	delivery("warm", "run", 6, t0, hour, &job{hour, hour, 1}, attempt{hour, 3600e3, "delivered"})
	delivery("older", "other", 1, t0, hour, &job{hour, hour, 1}, attempt{hour, 3600e3, "delivered"})

	keys := []string{dispatchKeyPath(1), dispatchKeyPath(2), dispatchKeyPath(3), dispatchKeyPath(4), dispatchKeyPath(5)}
	got, err := readWebhookStages(ctx, q, []string{"run"}, keys)
	if err != nil {
		t.Fatal(err)
	}
	want := []Stage{
		{Name: stageFanout, Span: stageSpans[stageFanout], Deliveries: 5, P50Ms: 3, P95Ms: 5, P99Ms: 5},
		{Name: stageQueue, Span: stageSpans[stageQueue], Deliveries: 3, P50Ms: 20, P95Ms: 30, P99Ms: 30},
		{Name: stagePickup, Span: stageSpans[stagePickup], Deliveries: 3, P50Ms: 0.2, P95Ms: 0.3, P99Ms: 0.3},
		{Name: stageRequest, Span: stageSpans[stageRequest], Deliveries: 3, P50Ms: 6, P95Ms: 8, P99Ms: 8},
	}
	if len(got) != len(want) {
		t.Fatalf("stages: %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("stage %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	// The table shows every stage under its report.
	var out bytes.Buffer
	r := &Report{Scenario: "webhooks", Database: "postgres", Stages: append(got, newStage(stageTotal, []time.Duration{40 * time.Millisecond}))}
	(&Results{Reports: []*Report{r}}).writeTable(&out)
	for _, s := range r.Stages {
		if !strings.Contains(out.String(), "    "+s.Name+"  ") || !strings.Contains(out.String(), s.Span) {
			t.Errorf("stage %s missing from the table:\n%s", s.Name, out.String())
		}
	}
}

// TestWebhooksStages runs the webhooks scenario briefly and checks that
// its report has the stages of what it measured, and its total the
// measured latencies.
func TestWebhooksStages(t *testing.T) {
	if storetest.SQLiteOnly() {
		t.Skip("the webhooks scenario runs on PostgreSQL only")
	}
	t.Parallel()
	r := smoke(t, append([]string{"webhooks", "-server", serverInProcess, "-db", string(store.Postgres)}, small["webhooks"]...)...)
	if len(r.Stages) != 5 {
		t.Fatalf("stages: %+v", r.Stages)
	}
	deliveries := int(r.Ours.Extra["sent"]) * 2 // -channels 2
	for _, s := range r.Stages[:4] {
		if s.Deliveries != deliveries || s.P50Ms < 0 || s.P99Ms < s.P50Ms {
			t.Errorf("stage %+v, want %d deliveries", s, deliveries)
		}
	}
	total := r.Stages[4]
	if total.Name != stageTotal || int64(total.Deliveries) != r.Ours.Ops ||
		total.P50Ms != r.Ours.P50Ms || total.P95Ms != r.Ours.P95Ms || total.P99Ms != r.Ours.P99Ms {
		t.Errorf("total %+v, ours %+v", total, r.Ours)
	}
}
