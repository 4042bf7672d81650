package approval_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/ratelimit"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// The approval service's rules called directly, without HTTP or GraphQL,
// on both databases: creation's validation, executing a link with a PIN,
// expiry and invalidation.

// svcClock is a settable clock for the service.
type svcClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *svcClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *svcClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// svcEnv is one database with a project, its owner, a viewer and the
// project's WRITE and READ keys, and the approval service over it.
type svcEnv struct {
	t                          *testing.T
	st                         *store.Store
	svc                        *approval.Service
	clock                      *svcClock
	pid                        string
	owner, viewer, write, read context.Context
	stranger                   context.Context // a user of another project
	ip                         int
}

func newSvcEnv(t *testing.T, d store.Dialect) *svcEnv {
	t.Helper()
	st := storetest.Open(t, d)
	authz := project.NewAuthorizer(st)
	projects := project.NewService(st, authz)
	authn := auth.NewService(st, auth.NewTokens([]byte("a-test-secret-of-thirty-two-bytes!")), nil)
	clock := &svcClock{t: time.Now()}
	e := &svcEnv{t: t, st: st, clock: clock,
		svc: approval.NewService(approval.Options{Store: st, Authz: authz, Recorder: event.NewRecorder(st),
			Secret: []byte("a-server-secret-of-thirty-two-by"), PublicURL: "https://ottr.example", Now: clock.Now})}
	user := func(name string) (auth.User, context.Context) {
		u := auth.User{ID: store.NewID(), Email: name + "@example.com", Name: name, PasswordHash: "unused", CreatedAt: store.Now()}
		storetest.Must(t, st.DB(context.Background()).Create(&u).Error)
		return u, auth.WithPrincipal(context.Background(), &auth.Principal{UserID: u.ID}, nil)
	}
	var viewer auth.User
	_, e.owner = user("owner")
	viewer, e.viewer = user("viewer")
	_, e.stranger = user("stranger")
	p, err := projects.Create(e.owner, "Deploys")
	storetest.Must(t, err)
	e.pid = p.ID
	_, err = projects.AddMember(e.owner, e.pid, viewer.Email, project.RoleViewer)
	storetest.Must(t, err)
	_, err = projects.Create(e.stranger, "Elsewhere")
	storetest.Must(t, err)
	key := func(scope auth.Scope) context.Context {
		_, secret, err := projects.CreateAPIKey(e.owner, e.pid, "deploy", scope)
		storetest.Must(t, err)
		principal, err := authn.Authenticate(context.Background(), secret)
		storetest.Must(t, err)
		return auth.WithPrincipal(context.Background(), principal, nil)
	}
	e.write, e.read = key(auth.ScopeWrite), key(auth.ScopeRead)
	return e
}

// anon is a person opening a link, from an address of their own so that
// the per-IP link limits stay out of the way.
func (e *svcEnv) anon() context.Context {
	e.ip++
	return ratelimit.WithClientIP(context.Background(), clientIP(2000+e.ip))
}

func (e *svcEnv) create(in approval.CreateInput) *approval.Created {
	e.t.Helper()
	c, err := e.svc.Create(e.write, e.pid, in)
	if err != nil {
		e.t.Fatalf("create %+v: %v", in, err)
	}
	return c
}

// events lists an approval's event types, oldest first.
func (e *svcEnv) events(id string) []string {
	e.t.Helper()
	var types []string
	storetest.Must(e.t, e.st.DB(context.Background()).Model(&event.Event{}).Where("approval_id = ?", id).
		Order("id").Pluck("type", &types).Error)
	return types
}

func (e *svcEnv) wantEvents(id string, want ...string) {
	e.t.Helper()
	if got := e.events(id); !slices.Equal(got, want) {
		e.t.Errorf("events of %s: %v, want %v", id, got, want)
	}
}

func (e *svcEnv) status(id string) approval.Status {
	e.t.Helper()
	a, err := e.svc.Get(e.owner, id)
	storetest.Must(e.t, err)
	return a.Status
}

func str(s string) *string { return &s }
func num(n int) *int       { return &n }

func codeOf(err error) string {
	if err == nil {
		return "ok"
	}
	if c := apperr.CodeOf(err); c != "" {
		return string(c)
	}
	return err.Error()
}

func TestServiceRules(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newSvcEnv(t, d)
		t.Run("create validation", func(t *testing.T) { testCreateValidation(t, e) })
		t.Run("execute with a PIN", func(t *testing.T) { testExecuteWithPIN(t, e) })
		t.Run("expiry", func(t *testing.T) { testExpiry(t, e) })
		t.Run("invalidate", func(t *testing.T) { testInvalidate(t, e) })
		t.Run("bad text", func(t *testing.T) { testBadText(t, e) })
	})
}

// testBadText: every text argument of the service, for callers other than
// GraphQL (whose own check runs first), refuses NUL and bytes that are not
// UTF-8 with BAD_USER_INPUT, and writes nothing.
func testBadText(t *testing.T, e *svcEnv) {
	e.t = t
	rows := func() map[string]int64 {
		out := map[string]int64{}
		for _, table := range []string{"approvals", "key_values", "events"} {
			var n int64
			storetest.Must(t, e.st.DB(context.Background()).Table(table).Count(&n).Error)
			out[table] = n
		}
		return out
	}
	before := rows()
	for _, bad := range []string{"a\x00b", "a\xffb"} {
		value := "yes"
		for name, call := range map[string]func() error{
			"Create info": func() error {
				_, err := e.svc.Create(e.write, e.pid, approval.CreateInput{KeyPath: "k", Value: &value, Info: &bad})
				return err
			},
			"Create projectId": func() error {
				_, err := e.svc.Create(e.write, e.pid+bad, approval.CreateInput{KeyPath: "k", Value: &value})
				return err
			},
			"Keys.Set value": func() error { _, err := e.svc.Keys().Set(e.write, e.pid, "k", bad); return err },
			"Open token":     func() error { _, err := e.svc.Open(e.anon(), bad); return err },
			"Execute pin":    func() error { _, err := e.svc.Execute(e.anon(), "t", "n", "approve", bad); return err },
			"Invalidate id":  func() error { _, err := e.svc.Invalidate(e.write, bad, nil); return err },
			"Get id":         func() error { _, err := e.svc.Get(e.write, bad); return err },
		} {
			if code := apperr.CodeOf(call()); code != apperr.CodeBadUserInput {
				t.Errorf("%s %q: %s, want BAD_USER_INPUT", name, bad, code)
			}
		}
	}
	if after := rows(); !maps.Equal(after, before) {
		t.Fatalf("rows by table went from %v to %v", before, after)
	}
}

func testCreateValidation(t *testing.T, e *svcEnv) {
	e.t = t
	style := func(s approval.Style) *approval.Style { return &s }
	acts := func(keys ...string) []approval.ActionInput {
		var out []approval.ActionInput
		for _, k := range keys {
			out = append(out, approval.ActionInput{Key: k, Value: "v-" + k})
		}
		return out
	}
	deciders := make([]string, approval.MaxDeciders+1)
	for i := range deciders {
		deciders[i] = "someone@example.com"
	}
	for _, tc := range []struct {
		name  string
		in    approval.CreateInput
		field string // "" for accepted
	}{
		{"simple form", approval.CreateInput{KeyPath: "deploy/prod", Value: str("go")}, ""},
		{"full form of three", approval.CreateInput{KeyPath: "deploy/prod", Actions: []approval.ActionInput{
			{Key: "yes", Value: "1", Label: str("Ship it"), Style: style(approval.StylePrimary)},
			{Key: "no", Value: "0", Style: style(approval.StyleDanger)}, {Key: "later", Value: ""}}}, ""},
		{"shortest TTL, 4- and 12-digit PINs", approval.CreateInput{KeyPath: "a", Value: str("x"), TTLSeconds: num(10), Pin: str("0000")}, ""},
		{"longest TTL and PIN", approval.CreateInput{KeyPath: "a", Value: str("x"), TTLSeconds: num(30 * 24 * 3600),
			Pin: str("123456789012"), MaxPinAttempts: num(10)}, ""},
		{"neither value nor actions", approval.CreateInput{KeyPath: "a"}, "value"},
		{"both value and actions", approval.CreateInput{KeyPath: "a", Value: str("x"), Actions: acts("a")}, "actions"},
		{"no actions", approval.CreateInput{KeyPath: "a", Actions: []approval.ActionInput{}}, "actions"},
		{"four actions", approval.CreateInput{KeyPath: "a", Actions: acts("a", "b", "c", "d")}, "actions"},
		{"one action key twice", approval.CreateInput{KeyPath: "a", Actions: acts("a", "a")}, "actions"},
		{"empty action key", approval.CreateInput{KeyPath: "a", Actions: acts("")}, "actions"},
		{"unknown style", approval.CreateInput{KeyPath: "a", Actions: []approval.ActionInput{{Key: "a", Style: style("LOUD")}}}, "actions"},
		{"empty key path", approval.CreateInput{Value: str("x")}, "keyPath"},
		{"empty segment", approval.CreateInput{KeyPath: "a//b", Value: str("x")}, "keyPath"},
		{"dot-dot segment", approval.CreateInput{KeyPath: "a/../b", Value: str("x")}, "keyPath"},
		{"space in the path", approval.CreateInput{KeyPath: "a b", Value: str("x")}, "keyPath"},
		{"path of 201", approval.CreateInput{KeyPath: strings.Repeat("p", 201), Value: str("x")}, "keyPath"},
		{"value of 1001", approval.CreateInput{KeyPath: "a", Value: str(strings.Repeat("v", 1001))}, "value"},
		{"TTL of 9 s", approval.CreateInput{KeyPath: "a", Value: str("x"), TTLSeconds: num(9)}, "ttlSeconds"},
		{"TTL over 30 days", approval.CreateInput{KeyPath: "a", Value: str("x"), TTLSeconds: num(30*24*3600 + 1)}, "ttlSeconds"},
		{"PIN of 3 digits", approval.CreateInput{KeyPath: "a", Value: str("x"), Pin: str("123")}, "pin"},
		{"PIN of 13 digits", approval.CreateInput{KeyPath: "a", Value: str("x"), Pin: str("1234567890123")}, "pin"},
		{"PIN with a letter", approval.CreateInput{KeyPath: "a", Value: str("x"), Pin: str("12a4")}, "pin"},
		{"no PIN attempts", approval.CreateInput{KeyPath: "a", Value: str("x"), MaxPinAttempts: num(0)}, "maxPinAttempts"},
		{"11 PIN attempts", approval.CreateInput{KeyPath: "a", Value: str("x"), MaxPinAttempts: num(11)}, "maxPinAttempts"},
		{"info of 2001", approval.CreateInput{KeyPath: "a", Value: str("x"), Info: str(strings.Repeat("i", 2001))}, "info"},
		{"refId of 201", approval.CreateInput{KeyPath: "a", Value: str("x"), RefID: str(strings.Repeat("r", 201))}, "refId"},
		{"initial value of 1001", approval.CreateInput{KeyPath: "a", Value: str("x"), InitialValue: str(strings.Repeat("v", 1001))}, "initialValue"},
		{"51 deciders", approval.CreateInput{KeyPath: "a", Value: str("x"), Deciders: deciders}, "deciders"},
		{"NUL in the value", approval.CreateInput{KeyPath: "a", Value: str("x\x00")}, "value"},
		{"invalid UTF-8 in the key path", approval.CreateInput{KeyPath: "a\xff", Value: str("x")}, "keyPath"},
		{"NUL in the info", approval.CreateInput{KeyPath: "a", Value: str("x"), Info: str("\x00")}, "info"},
		{"invalid UTF-8 in an action's label", approval.CreateInput{KeyPath: "a", Actions: []approval.ActionInput{{Key: "a", Label: str("\xc3")}}}, "actions"},
	} {
		before := len(e.eventsOfProject())
		c, err := e.svc.Create(e.write, e.pid, tc.in)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			ttl := 600 * time.Second
			if tc.in.TTLSeconds != nil {
				ttl = time.Duration(*tc.in.TTLSeconds) * time.Second
			}
			a := c.Approval
			if a.Status != approval.Pending || !a.ExpiresAt.Equal(a.CreatedAt.Add(ttl)) || c.Token == "" ||
				!strings.HasPrefix(c.URL, "https://ottr.example/") || a.PinRequired != (tc.in.Pin != nil) {
				t.Errorf("%s: created %+v (%s)", tc.name, a, c.URL)
			}
			e.wantEvents(a.ID, string(event.ApprovalCreated))
			continue
		}
		if ae, ok := apperr.As(err); !ok || ae.Code != apperr.CodeBadUserInput || ae.Field != tc.field {
			t.Errorf("%s: %v (%#v), want BAD_USER_INPUT on %s", tc.name, err, ae, tc.field)
		}
		if after := len(e.eventsOfProject()); after != before {
			t.Errorf("%s: a refused creation recorded %d events", tc.name, after-before)
		}
	}
	// Every problem at once.
	_, err := e.svc.Create(e.write, e.pid, approval.CreateInput{KeyPath: "a//b", TTLSeconds: num(1), Pin: str("x")})
	if ae, ok := apperr.As(err); !ok || len(ae.Problems) != 4 {
		t.Errorf("four bad fields: %#v, want four problems", err)
	}
	// Who may create: a WRITE key and members, not a READ key or a viewer;
	// another tenant does not see the project.
	in := approval.CreateInput{KeyPath: "who", Value: str("x")}
	for name, want := range map[string]struct {
		ctx  context.Context
		code string
	}{
		"owner": {e.owner, "ok"}, "viewer": {e.viewer, "FORBIDDEN"}, "READ key": {e.read, "FORBIDDEN"},
		"another project's user": {e.stranger, "NOT_FOUND"}, "nobody": {context.Background(), "UNAUTHENTICATED"},
	} {
		_, err := e.svc.Create(want.ctx, e.pid, in)
		if got := codeOf(err); got != want.code {
			t.Errorf("create as %s: %s, want %s", name, got, want.code)
		}
	}
}

// eventsOfProject lists the project's event ids.
func (e *svcEnv) eventsOfProject() []string {
	var ids []string
	storetest.Must(e.t, e.st.DB(context.Background()).Model(&event.Event{}).Where("project_id = ?", e.pid).Pluck("id", &ids).Error)
	return ids
}

func testExecuteWithPIN(t *testing.T, e *svcEnv) {
	e.t = t
	c := e.create(approval.CreateInput{KeyPath: "pin/ok", Actions: []approval.ActionInput{{Key: "yes", Value: "1"}, {Key: "no", Value: "0"}},
		Pin: str("2468"), MaxPinAttempts: num(3)})
	link, err := e.svc.Open(e.anon(), c.Token)
	storetest.Must(t, err)
	if !link.PinRequired || link.AttemptsRemaining != 3 || link.ProjectName != "Deploys" || link.Nonce == "" {
		t.Fatalf("link: %+v", link)
	}
	type step struct {
		name, nonce, action, pin string
		code                     string          // of the error, "ok" for none
		status                   approval.Status // of the outcome, when ok
		left                     int
	}
	for _, s := range []step{
		{"no nonce", "", "yes", "2468", "BAD_USER_INPUT", "", 0},
		{"another link's nonce", "AAAA", "yes", "2468", "BAD_USER_INPUT", "", 0},
		{"unknown action", link.Nonce, "maybe", "2468", "BAD_USER_INPUT", "", 0},
		{"NUL in the PIN", link.Nonce, "yes", "24\x0068", "BAD_USER_INPUT", "", 0},
		{"wrong PIN", link.Nonce, "yes", "1357", "ok", approval.Pending, 2},
		{"no PIN", link.Nonce, "yes", "", "ok", approval.Pending, 1},
		{"right PIN", link.Nonce, "no", "2468", "ok", approval.Executed, 1},
		{"again", link.Nonce, "yes", "2468", "CONFLICT", "", 0},
	} {
		x, err := e.svc.Execute(e.anon(), c.Token, s.nonce, s.action, s.pin)
		if got := codeOf(err); got != s.code {
			t.Fatalf("%s: %s, want %s", s.name, got, s.code)
		}
		if err == nil && (x.Status != s.status || x.AttemptsRemaining != s.left) {
			t.Fatalf("%s: %+v, want %s with %d left", s.name, x, s.status, s.left)
		}
	}
	a, err := e.svc.Get(e.owner, c.Approval.ID)
	storetest.Must(t, err)
	if a.Status != approval.Executed || a.ExecutedAction == nil || a.ExecutedAction.Key != "no" || a.FailedPinAttempts != 2 {
		t.Errorf("after execution: %+v", a)
	}
	e.wantEvents(c.Approval.ID, "APPROVAL_CREATED", "PIN_FAILED", "PIN_FAILED", "APPROVAL_EXECUTED")

	// The last wrong PIN locks the link; the right one comes too late.
	c = e.create(approval.CreateInput{KeyPath: "pin/locked", Value: str("go"), Pin: str("2468"), MaxPinAttempts: num(2)})
	link, err = e.svc.Open(e.anon(), c.Token)
	storetest.Must(t, err)
	for i, want := range []approval.Status{approval.Pending, approval.Locked} {
		x, err := e.svc.Execute(e.anon(), c.Token, link.Nonce, "approve", "0000")
		if err != nil || x.Status != want || x.AttemptsRemaining != 1-i {
			t.Fatalf("wrong PIN %d: %+v %v, want %s", i+1, x, err, want)
		}
	}
	_, err = e.svc.Execute(e.anon(), c.Token, link.Nonce, "approve", "2468")
	if st, ok := approval.ClosedStatus(err); !ok || st != approval.Locked {
		t.Errorf("right PIN after locking: %v, want CONFLICT of a LOCKED approval", err)
	}
	e.wantEvents(c.Approval.ID, "APPROVAL_CREATED", "PIN_FAILED", "PIN_FAILED", "TOKEN_LOCKED")

	// An unknown token, or one altered, is NOT_FOUND.
	for _, token := range []string{"unknown", c.Token + "x"} {
		if _, err := e.svc.Open(e.anon(), token); apperr.CodeOf(err) != apperr.CodeNotFound {
			t.Errorf("open %q: %v, want NOT_FOUND", token, err)
		}
	}
}

func testExpiry(t *testing.T, e *svcEnv) {
	e.t = t
	c := e.create(approval.CreateInput{KeyPath: "expiry/a", Value: str("go"), TTLSeconds: num(10)})
	link, err := e.svc.Open(e.anon(), c.Token)
	storetest.Must(t, err)
	e.clock.Advance(9 * time.Second)
	if st := e.status(c.Approval.ID); st != approval.Pending {
		t.Fatalf("1 s before expiry: %s", st)
	}
	e.clock.Advance(time.Second)
	// Past its time it reads EXPIRED before anyone touches it, and the first
	// access attempt makes it so, recording APPROVAL_EXPIRED once.
	if st := e.status(c.Approval.ID); st != approval.Expired {
		t.Errorf("at expiry: reads %s, want EXPIRED", st)
	}
	e.wantEvents(c.Approval.ID, "APPROVAL_CREATED")
	for i, attempt := range []func() error{
		func() error { _, err := e.svc.Execute(e.anon(), c.Token, link.Nonce, "approve", ""); return err },
		func() error { _, err := e.svc.Open(e.anon(), c.Token); return err },
		func() error { _, err := e.svc.Invalidate(e.write, c.Approval.ID, nil); return err },
	} {
		if st, ok := approval.ClosedStatus(attempt()); !ok || st != approval.Expired {
			t.Errorf("attempt %d after expiry: want CONFLICT of an EXPIRED approval", i+1)
		}
	}
	e.wantEvents(c.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXPIRED")
	var stored string
	storetest.Must(t, e.st.DB(context.Background()).Raw("SELECT status FROM approvals WHERE id = ?", c.Approval.ID).Scan(&stored).Error)
	if stored != string(approval.Expired) {
		t.Errorf("stored status %q, want EXPIRED", stored)
	}
}

func testInvalidate(t *testing.T, e *svcEnv) {
	e.t = t
	c := e.create(approval.CreateInput{KeyPath: "invalidate/a", Value: str("go")})
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		id     string
		reason *string
		code   string
	}{
		{"a READ key", e.read, c.Approval.ID, nil, "FORBIDDEN"},
		{"a viewer", e.viewer, c.Approval.ID, nil, "FORBIDDEN"},
		{"another project's user", e.stranger, c.Approval.ID, nil, "NOT_FOUND"},
		{"an unknown id", e.write, store.NewID(), nil, "NOT_FOUND"},
		{"a reason of 1001", e.write, c.Approval.ID, str(strings.Repeat("r", 1001)), "BAD_USER_INPUT"},
		{"NUL in the reason", e.write, c.Approval.ID, str("no\x00"), "BAD_USER_INPUT"},
		{"invalid UTF-8 in the id", e.write, "\xff", nil, "BAD_USER_INPUT"},
		{"the WRITE key", e.write, c.Approval.ID, str("superseded"), "ok"},
		{"again", e.write, c.Approval.ID, nil, "CONFLICT"},
	} {
		a, err := e.svc.Invalidate(tc.ctx, tc.id, tc.reason)
		if got := codeOf(err); got != tc.code {
			t.Errorf("invalidate by %s: %s, want %s", tc.name, got, tc.code)
		}
		if err == nil && (a.Status != approval.Invalidated || a.InvalidationReason == nil || *a.InvalidationReason != "superseded" || a.InvalidatedAt == nil) {
			t.Errorf("invalidated: %+v", a)
		}
	}
	if _, err := e.svc.Open(e.anon(), c.Token); func() bool { st, ok := approval.ClosedStatus(err); return !ok || st != approval.Invalidated }() {
		t.Errorf("opening an invalidated link: %v", err)
	}
	e.wantEvents(c.Approval.ID, "APPROVAL_CREATED", "APPROVAL_INVALIDATED")

	// An executed approval cannot be invalidated.
	c = e.create(approval.CreateInput{KeyPath: "invalidate/b", Value: str("go")})
	link, err := e.svc.Open(e.anon(), c.Token)
	storetest.Must(t, err)
	_, err = e.svc.Execute(e.anon(), c.Token, link.Nonce, "approve", "")
	storetest.Must(t, err)
	if _, err := e.svc.Invalidate(e.owner, c.Approval.ID, nil); func() bool { st, ok := approval.ClosedStatus(err); return !ok || st != approval.Executed }() {
		t.Errorf("invalidating an executed approval: %v", err)
	}
}
