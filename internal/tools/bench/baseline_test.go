package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// The baselines must write the rows the server's work must write: these
// tests run one operation each way on the real server's database and
// compare what was written, table by table, and what was answered, byte
// for byte.

type baselineEnv struct {
	t   *testing.T
	srv *testserver.Server
	db  *direct
	pid string
	key string
	// keyID is key's ID.
	keyID string
	fake  *fakeSlack
	// channel is the project's Slack channel, once added.
	channel string
}

func newBaselineEnv(t *testing.T, d store.Dialect) *baselineEnv {
	fake, stop, err := startFakeSlack()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	srv := testserver.Start(t, d, func(c *config.Config) { c.SlackWebhookPrefixes = append(c.SlackWebhookPrefixes, fake.prefix()) })
	t.Cleanup(func() {
		// Deliveries in flight end before the fake Slack goes.
		srv.HTTP.Close()
		_ = srv.App.Close()
	})
	owner := srv.SignUp("Owner")
	pid := owner.CreateProject("Bench")
	keyID, key := owner.CreateAPIKey(pid, "WRITE")
	cfg := srv.App.Config
	db, err := connect(context.Background(), d, cfg.DatabaseURL, cfg.DataDir, 2)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = db.close() })
	return &baselineEnv{t: t, srv: srv, db: db, pid: pid, key: key, keyID: keyID, fake: fake}
}

// addChannel adds an enabled Slack channel, posting to the fake Slack, to
// the project.
func (e *baselineEnv) addChannel() {
	e.channel = e.srv.Client(e.key).AddSlackChannel(e.pid, "bench", e.fake.prefix()+"T0/B0/bench", allEventTypes()...)
}

// waitDelivered waits until n deliveries are DELIVERED: the server's
// workers take the baseline's job rows as their own.
func (e *baselineEnv) waitDelivered(n int) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got int
		err := e.db.db().queryRow(context.Background(), e.db.stmt(`SELECT count(*) FROM deliveries WHERE status = 'DELIVERED'`)).Scan(&got)
		if err != nil {
			e.t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d deliveries delivered after 30 s, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledLater are the tables written after a commit, by the dispatcher's
// deliveries and River's own upkeep: their counts move on their own.
func settledLater(table string) bool {
	return table == "delivery_attempts" || (strings.HasPrefix(table, "river_") && table != "river_job")
}

// fannedOut waits until the server's delivery fan-out has passed every
// event committed so far.
func (e *baselineEnv) fannedOut() {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left int
		err := e.db.db().queryRow(context.Background(), e.db.stmt(
			`SELECT count(*) FROM events, delivery_cursor c WHERE (events.xid, events.id) > (c.xid, c.event_id)`)).Scan(&left)
		if err != nil {
			e.t.Fatal(err)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d events not fanned out after 30 s", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rowCounts counts the rows of every table but those settledLater.
func (e *baselineEnv) rowCounts() map[string]int {
	e.t.Helper()
	list := `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`
	if e.srv.Dialect == store.SQLite {
		list = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	}
	sqlDB := e.srv.App.Store.SQL()
	rows, err := sqlDB.Query(list)
	if err != nil {
		e.t.Fatalf("list tables: %v", err)
	}
	var tables []string
	for rows.Next() {
		var name string
		storetest.Must(e.t, rows.Scan(&name))
		tables = append(tables, name)
	}
	storetest.Must(e.t, rows.Err())
	counts := map[string]int{}
	for _, table := range tables {
		if settledLater(table) {
			continue
		}
		var n int
		storetest.Must(e.t, sqlDB.QueryRow(`SELECT count(*) FROM "`+table+`"`).Scan(&n))
		counts[table] = n
	}
	return counts
}

// written runs f and returns how many rows it and the delivery fan-out
// of its events added to each table.
func (e *baselineEnv) written(f func()) map[string]int {
	before := e.rowCounts()
	f()
	e.fannedOut()
	delta := map[string]int{}
	for table, n := range e.rowCounts() {
		if d := n - before[table]; d != 0 {
			delta[table] = d
		}
	}
	return delta
}

func (e *baselineEnv) create(keyPath string) (token, id string) {
	var out struct {
		CreateApproval struct {
			Token    string
			Approval struct{ ID string }
		}
	}
	e.srv.Client(e.key).MustDo(createMutation, map[string]any{"p": e.pid, "i": approvalInput(keyPath)}, &out)
	return out.CreateApproval.Token, out.CreateApproval.Approval.ID
}

// storedApproval is a whole approvals row: what the read baseline reads
// (approvalRow) and the columns of the decision, of who may decide and of
// who created it.
type storedApproval struct {
	approvalRow
	DecidedVia, DecidedByUserID, DecidedBySlackUserID, DecidedBySlackUserName, DecisionComment *string
	AllowLink                                                                                  bool
	Deciders, CreatedByUserID, CreatedByAPIKeyID                                               *string
	// The reminder's time, and the callback URL (encrypted) with its key.
	RemindedAt         *time.Time
	CallbackURL        *string
	CallbackKeyVersion *int
}

// approval reads the whole row of keyPath's approval, in the table's
// column order. It selects *: a migration that adds a column fails here
// until the comparisons of the tests cover it.
func (e *baselineEnv) approval(keyPath string) *storedApproval {
	e.t.Helper()
	var a storedApproval
	r := &a.approvalRow
	err := e.db.db().queryRow(context.Background(), e.db.stmt(`SELECT * FROM approvals WHERE key_path = $1`), keyPath).Scan(
		&r.ID, &r.ProjectID, &r.KeyPath, &r.Info, &r.RefID, &r.Actions, &r.Status, &r.CreatedAt, &r.ExpiresAt, &r.TokenHash,
		&r.PinHash, &r.MaxPinAttempts, &r.FailedPinAttempts, &r.ExecutedAction, &r.ExecutedAt, &r.InvalidatedAt,
		&r.InvalidationReason, &a.DecidedVia, &a.DecidedByUserID, &a.DecidedBySlackUserID, &a.DecidedBySlackUserName,
		&a.DecisionComment, &a.AllowLink, &a.Deciders, &a.CreatedByUserID, &a.CreatedByAPIKeyID,
		&a.RemindedAt, &a.CallbackURL, &a.CallbackKeyVersion)
	if err != nil {
		e.t.Fatalf("load approval of %s: %v", keyPath, err)
	}
	return &a
}

// storedEvent is the columns of an approval's event that createApproval
// and executeApproval write.
type storedEvent struct {
	Type                                                      string
	Action, DecidedVia, DecidedByUserID, DecidedBySlackUserID *string
	DecidedBySlackUserName, Comment, Reason                   *string
	Attempts, MaxAttempts                                     *int
}

// event reads the latest event of an approval.
func (e *baselineEnv) event(approvalID string) storedEvent {
	e.t.Helper()
	var ev storedEvent
	err := e.db.db().queryRow(context.Background(), e.db.stmt(`SELECT type, action, decided_via, decided_by_user_id, `+
		`decided_by_slack_user_id, decided_by_slack_user_name, comment, reason, attempts, max_attempts `+
		`FROM events WHERE approval_id = $1 ORDER BY id DESC LIMIT 1`), approvalID).Scan(&ev.Type, &ev.Action, &ev.DecidedVia,
		&ev.DecidedByUserID, &ev.DecidedBySlackUserID, &ev.DecidedBySlackUserName, &ev.Comment, &ev.Reason, &ev.Attempts, &ev.MaxAttempts)
	if err != nil {
		e.t.Fatalf("load event of %s: %v", approvalID, err)
	}
	return ev
}

// decision is the row's columns of who decided, how, and who may and
// did create it, as text to compare.
func (a *storedApproval) decision() string {
	return fmt.Sprintf("via %s, user %s, Slack user %s %s, comment %s, link allowed %t, deciders %s, created by user %s, key %s, "+
		"reminded %t, callback %s %t",
		text(a.DecidedVia), text(a.DecidedByUserID), text(a.DecidedBySlackUserID), text(a.DecidedBySlackUserName),
		text(a.DecisionComment), a.AllowLink, text(a.Deciders), text(a.CreatedByUserID), text(a.CreatedByAPIKeyID),
		a.RemindedAt != nil, text(a.CallbackURL), a.CallbackKeyVersion != nil)
}

func (ev storedEvent) String() string {
	n := func(i *int) string {
		if i == nil {
			return "NULL"
		}
		return fmt.Sprint(*i)
	}
	return fmt.Sprintf("%s, action %s, via %s, user %s, Slack user %s %s, comment %s, reason %s, attempts %s of %s",
		ev.Type, text(ev.Action), text(ev.DecidedVia), text(ev.DecidedByUserID), text(ev.DecidedBySlackUserID),
		text(ev.DecidedBySlackUserName), text(ev.Comment), text(ev.Reason), n(ev.Attempts), n(ev.MaxAttempts))
}

// text is a nullable text column for messages and comparisons.
func text(s *string) string {
	if s == nil {
		return "NULL"
	}
	return strconv.Quote(*s)
}

func (e *baselineEnv) keyValue(path string) *string {
	e.t.Helper()
	var v *string
	err := e.db.db().queryRow(context.Background(),
		e.db.stmt(`SELECT value FROM key_values WHERE project_id = $1 AND path = $2`), e.pid, path).Scan(&v)
	if err != nil {
		e.t.Fatalf("load key %s: %v", path, err)
	}
	return v
}

// The create baseline writes createApproval's rows but the key's: the
// issue's four-insert baseline (approval, event, job, delivery), a little
// less work than the server must do.
func TestBaselineCreateWritesWhatCreateApprovalWrites(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newBaselineEnv(t, d)
		e.addChannel()
		ours := e.written(func() { e.create("k/ours") })
		base := e.written(func() {
			err := e.db.tx(context.Background(), func(q querier) error {
				return baseCreate(context.Background(), e.db, q, e.pid, e.keyID, e.channel, "k/base", auth.HashToken(auth.RandomToken(32)))
			})
			storetest.Must(t, err)
		})
		withKey := maps.Clone(base)
		withKey["key_values"]++
		if !maps.Equal(ours, withKey) || len(base) != 4 || ours["approvals"] != 1 || ours["events"] != 1 ||
			ours["deliveries"] != 1 || ours["river_job"] != 1 {
			t.Fatalf("rows written: createApproval %v, baseline %v", ours, base)
		}
		o, b := e.approval("k/ours"), e.approval("k/base")
		if o.Actions != b.Actions || *o.Info != *b.Info || o.Status != b.Status || o.MaxPinAttempts != b.MaxPinAttempts ||
			(o.PinHash == nil) != (b.PinHash == nil) || o.ExpiresAt.Sub(o.CreatedAt) != approvalTTL ||
			b.ExpiresAt.Sub(b.CreatedAt) != approvalTTL {
			t.Fatalf("approval rows differ:\ncreateApproval %+v\nbaseline       %+v", o, b)
		}
		// Created by the key, the link allowed, any member deciding, no decision.
		want := "via NULL, user NULL, Slack user NULL NULL, comment NULL, link allowed true, deciders NULL, " +
			"created by user NULL, key " + strconv.Quote(e.keyID) + ", reminded false, callback NULL false"
		if o.decision() != want || b.decision() != want {
			t.Fatalf("approval rows differ:\ncreateApproval %s\nbaseline       %s\nwant           %s", o.decision(), b.decision(), want)
		}
		wantEvent := "APPROVAL_CREATED, action NULL, via NULL, user NULL, Slack user NULL NULL, comment NULL, reason NULL, attempts NULL of NULL"
		if oe, be := e.event(o.ID).String(), e.event(b.ID).String(); oe != wantEvent || be != wantEvent {
			t.Fatalf("events differ:\ncreateApproval %s\nbaseline       %s\nwant           %s", oe, be, wantEvent)
		}
		if e.keyValue("k/ours") != nil {
			t.Fatal("the key has a value")
		}
		e.waitDelivered(2)
	})
}

func TestBaselineExecuteWritesWhatExecuteApprovalWrites(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newBaselineEnv(t, d)
		oursToken, _ := e.create("k/ours")
		baseToken, _ := e.create("k/base")
		ours := e.written(func() {
			anon := e.srv.Client("")
			var link struct{ ApprovalLink struct{ Nonce string } }
			anon.MustDo(linkQuery, map[string]any{"t": oursToken}, &link)
			anon.MustDo(executeMutation, map[string]any{"t": oursToken, "n": link.ApprovalLink.Nonce, "a": "approve", "pin": benchPIN}, nil)
		})
		base := e.written(func() { storetest.Must(t, executeSQL(context.Background(), e.db, auth.HashToken(baseToken))) })
		if !maps.Equal(ours, base) || ours["events"] != 1 {
			t.Fatalf("rows written: executeApproval %v, baseline %v", ours, base)
		}
		// Decided by the link, by nobody known, without a comment.
		wantDecision := "via \"LINK\", user NULL, Slack user NULL NULL, comment NULL, link allowed true, deciders NULL, " +
			"created by user NULL, key " + strconv.Quote(e.keyID) + ", reminded false, callback NULL false"
		wantEvent := `APPROVAL_EXECUTED, action "approve", via "LINK", user NULL, Slack user NULL NULL, comment NULL, reason NULL, attempts NULL of NULL`
		for _, path := range []string{"k/ours", "k/base"} {
			a := e.approval(path)
			ev := e.event(a.ID)
			if a.Status != "EXECUTED" || a.ExecutedAction == nil || *a.ExecutedAction != "approve" || a.ExecutedAt == nil ||
				a.decision() != wantDecision || ev.String() != wantEvent {
				t.Fatalf("%s after execution: %+v\n%s\nevent %s", path, a, a.decision(), ev)
			}
			if v := e.keyValue(path); v == nil || *v != "approved" {
				t.Fatalf("key %s = %v", path, v)
			}
		}
	})
}

func TestBaselineReadAnswersWhatApprovalAnswers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newBaselineEnv(t, d)
		_, pending := e.create("k/pending")
		token, executed := e.create("k/executed")
		storetest.Must(t, executeSQL(context.Background(), e.db, auth.HashToken(token)))
		other := e.srv.SignUp("Other")
		otherPID := other.CreateProject("Other")
		_, otherKey := other.CreateAPIKey(otherPID, "WRITE")
		var out struct {
			CreateApproval struct{ Approval struct{ ID string } }
		}
		e.srv.Client(otherKey).MustDo(createMutation, map[string]any{"p": otherPID, "i": approvalInput("k")}, &out)
		foreign := out.CreateApproval.Approval.ID
		baseline := httptest.NewServer(baselineHandler(e.db))
		defer baseline.Close()
		for _, id := range []string{pending, executed, foreign} {
			ours := e.srv.Client(e.key).Do(approvalQuery, map[string]any{"id": id})
			if len(ours.Errors) > 0 {
				t.Fatalf("approval(%s): %+v", id, ours.Errors)
			}
			req, _ := http.NewRequest(http.MethodGet, baseline.URL+"/approval?id="+id, nil)
			req.Header.Set("Authorization", "Bearer "+e.key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var base struct{ Data json.RawMessage }
			err = json.NewDecoder(resp.Body).Decode(&base)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("baseline: HTTP %d, %v", resp.StatusCode, err)
			}
			if !bytes.Equal(ours.Data, base.Data) {
				t.Fatalf("approval(%s) answers differ:\nserver   %s\nbaseline %s", id, ours.Data, base.Data)
			}
			if id == foreign && string(base.Data) != `{"approval":null}` {
				t.Fatalf("another project's approval: %s", base.Data)
			}
		}
	})
}
