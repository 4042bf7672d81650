package approval_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/tools/testserver"
)

// env is one test's server with a project, its owner and a WRITE key.
type env struct {
	t     *testing.T
	srv   *testserver.Server
	clock *testserver.Clock
	owner *testserver.User
	pid   string
	write *testserver.Client // a WRITE API key of the project
	anon  *testserver.Client // no credentials, as the person who opens a link
}

func newEnv(t *testing.T, d store.Dialect) *env {
	t.Helper()
	clock := &testserver.Clock{}
	srv := testserver.Start(t, d, testserver.WithClock(clock))
	owner := srv.SignUp("Owner")
	pid := owner.CreateProject("Deploys")
	_, key := owner.CreateAPIKey(pid, "WRITE")
	return &env{t: t, srv: srv, clock: clock, owner: owner, pid: pid, write: srv.Client(key), anon: srv.Client("")}
}

// clientIP is the n-th loopback address, n ≥ 0, for tests that act as many
// clients of the per-IP link limits.
func clientIP(n int) string { return fmt.Sprintf("127.0.%d.%d", 1+n/250, 1+n%250) }

const createMutation = `mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) {
	url token approval { id keyPath info refId status createdAt expiresAt pinRequired maxPinAttempts failedPinAttempts
		actions { key value label style } } } }`

type action struct{ Key, Value, Label, Style string }

type approvalOut struct {
	ID                 string
	KeyPath            string
	Info, RefID        *string
	Status             string
	CreatedAt          time.Time
	ExpiresAt          time.Time
	PinRequired        bool
	MaxPinAttempts     int
	FailedPinAttempts  int
	Actions            []action
	ExecutedAction     *action
	ExecutedAt         *time.Time
	InvalidatedAt      *time.Time
	InvalidationReason *string
	Events             []eventOut
}

type created struct {
	URL, Token string
	Approval   approvalOut
}

type eventOut struct {
	ID          string
	Type        string
	ProjectID   string
	ApprovalID  *string
	KeyPath     string
	Action      *string
	Attempts    *int
	MaxAttempts *int
	Reason      *string
}

// create makes an approval with the WRITE key.
func (e *env) create(input map[string]any) created {
	e.t.Helper()
	var out struct{ CreateApproval created }
	e.write.MustDo(createMutation, map[string]any{"p": e.pid, "i": input}, &out)
	return out.CreateApproval
}

const approvalQuery = `query($id: ID!) { approval(id: $id) { id keyPath status failedPinAttempts maxPinAttempts expiresAt
	executedAction { key value label style } executedAt invalidatedAt invalidationReason
	events { id type projectId approvalId keyPath action attempts maxAttempts reason } } }`

// approval reads an approval as the project's owner.
func (e *env) approval(id string) approvalOut {
	e.t.Helper()
	var out struct{ Approval *approvalOut }
	e.owner.MustDo(approvalQuery, map[string]any{"id": id}, &out)
	if out.Approval == nil {
		e.t.Fatalf("approval %s not found", id)
	}
	return *out.Approval
}

// eventTypes lists an approval's event types, oldest first.
func (e *env) eventTypes(id string) []string {
	e.t.Helper()
	var types []string
	for _, ev := range e.approval(id).Events {
		types = append(types, ev.Type)
	}
	return types
}

// wantEvents fails unless the approval's events are exactly want.
func (e *env) wantEvents(id string, want ...string) {
	e.t.Helper()
	if got := e.eventTypes(id); !slices.Equal(got, want) {
		e.t.Fatalf("events of %s = %v, want %v", id, got, want)
	}
}

type link struct {
	ProjectName       string
	KeyPath           string
	Info              *string
	Actions           []action
	Status            string
	ExpiresAt         time.Time
	PinRequired       bool
	AttemptsRemaining int
	Nonce             string
}

const linkQuery = `query($t: String!) { approvalLink(token: $t) { projectName keyPath info
	actions { key value label style } status expiresAt pinRequired attemptsRemaining nonce } }`

// open loads a link as an anonymous client.
func open(t *testing.T, c *testserver.Client, token string) link {
	t.Helper()
	var out struct{ ApprovalLink link }
	c.MustDo(linkQuery, map[string]any{"t": token}, &out)
	return out.ApprovalLink
}

const executeMutation = `mutation($t: String!, $n: String!, $a: String!, $pin: String) {
	executeApproval(token: $t, nonce: $n, action: $a, pin: $pin) { status attemptsRemaining action { key value label style } } }`

type execution struct {
	Status            string
	AttemptsRemaining int
	Action            *action
}

func executeVars(token, nonce, act string, pin *string) map[string]any {
	vars := map[string]any{"t": token, "n": nonce, "a": act}
	if pin != nil {
		vars["pin"] = *pin
	}
	return vars
}

// execute runs executeApproval, which must not fail.
func execute(t *testing.T, c *testserver.Client, token, nonce, act string, pin *string) execution {
	t.Helper()
	var out struct{ ExecuteApproval execution }
	c.MustDo(executeMutation, executeVars(token, nonce, act, pin), &out)
	return out.ExecuteApproval
}

// wantError fails unless err has the code and, when field is not empty,
// that extensions.field.
func wantError(t *testing.T, e testserver.GQLError, code, field string) {
	t.Helper()
	if e.Code() != code || e.Field() != field {
		t.Fatalf("error %q: code %s field %q, want %s %q", e.Message, e.Code(), e.Field(), code, field)
	}
}

func ptr[T any](v T) *T { return &v }

type keyOut struct {
	Path            string
	Value           *string
	UpdatedAt       time.Time
	PendingApproval *struct{ ID string }
}

// key reads a key as the owner; it must exist.
func (e *env) key(path string) keyOut {
	e.t.Helper()
	var out struct{ Project struct{ Key *keyOut } }
	e.owner.MustDo(`query($p: ID!, $k: String!) { project(id: $p) { key(path: $k) { path value updatedAt pendingApproval { id } } } }`,
		map[string]any{"p": e.pid, "k": path}, &out)
	if out.Project.Key == nil {
		e.t.Fatalf("key %s not found", path)
	}
	return *out.Project.Key
}

// listStatuses returns the ids of the approvals that a filter finds.
func (e *env) listStatuses(filter map[string]any) []string {
	e.t.Helper()
	var out struct {
		Project struct {
			Approvals struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
	}
	e.owner.MustDo(`query($p: ID!, $f: ApprovalFilter) { project(id: $p) { approvals(filter: $f, first: 100) { edges { node { id } } } } }`,
		map[string]any{"p": e.pid, "f": filter}, &out)
	var ids []string
	for _, edge := range out.Project.Approvals.Edges {
		ids = append(ids, edge.Node.ID)
	}
	return ids
}
