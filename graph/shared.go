package graph

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ottr/backend/graph/model"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/realtime/gqlws"
	"github.com/ottr/backend/internal/realtime/live"
)

// Shared projectEvents over graphql-transport-ws: subscribers of the same
// operation on the same project share one rendering of each event (see
// live.ShareProjectEvents). The group's rendering is gqlgen's own: the
// group executes the operation once, with the resolver handing gqlgen the
// group's events (renderSource) instead of subscribing, so every member
// receives exactly the bytes gqlgen renders for a subscriber of its own.

type renderSourceKey struct{}

// closedEvents is what a subscriber's own execution returns once its
// stream was adopted: gqlgen reads nothing from it.
var closedEvents = func() chan *model.Event {
	ch := make(chan *model.Event)
	close(ch)
	return ch
}()

// shareProjectEvents serves a projectEvents subscription from a shared
// group when it came over the graphql-transport-ws transport and its
// rendering can be shared; ok is false otherwise.
func (r *subscriptionResolver) shareProjectEvents(ctx context.Context, projectID string, types []model.EventType, after *string) (ch <-chan *model.Event, ok bool, err error) {
	if src, ok := ctx.Value(renderSourceKey{}).(chan *model.Event); ok {
		return src, true, nil // the group's own execution
	}
	stream := gqlws.StreamFor(ctx)
	if stream == nil {
		return nil, false, nil
	}
	oc := graphql.GetOperationContext(ctx)
	key, ok := shareKey(oc, projectID, types)
	if !ok {
		return nil, false, nil
	}
	// The stream's context rather than the resolver's: it carries the same
	// credentials, and a member keeps it for as long as it runs.
	start, err := r.Live.ShareProjectEvents(stream.Context(), projectID, toEventTypes(types), after, key,
		func() live.Renderer[[]byte] { return newRenderer(stream.Executor(), oc) }, streamMember{stream})
	if err != nil {
		return nil, true, err
	}
	stream.Adopt()
	start()
	return closedEvents, true, nil
}

// shareKey identifies the rendering of a projectEvents operation: its
// document, operation name and variables, except the one that only sets
// the cursor (each member replays from its own), and the events it
// selects, named explicitly (a variable may set both the project and the
// cursor). ok is false for the operations not shared: selections through
// fragments or with directives on the root field.
func shareKey(oc *graphql.OperationContext, projectID string, types []model.EventType) (string, bool) {
	if oc == nil || oc.Operation == nil || len(oc.Operation.SelectionSet) != 1 {
		return "", false
	}
	f, ok := oc.Operation.SelectionSet[0].(*ast.Field)
	if !ok || f.Name != "projectEvents" || len(f.Directives) > 0 || !sharable(f.SelectionSet) {
		return "", false
	}
	vars := oc.Variables
	if a := f.Arguments.ForName("after"); a != nil && a.Value != nil && a.Value.Kind == ast.Variable {
		if _, ok := vars[a.Value.Raw]; ok {
			vars = make(map[string]any, len(oc.Variables))
			for k, v := range oc.Variables {
				if k != a.Value.Raw {
					vars[k] = v
				}
			}
		}
	}
	b, err := json.Marshal(struct {
		Project string            `json:"p"`
		Types   []model.EventType `json:"t"`
		Vars    map[string]any    `json:"v"` // keys sorted: one key per set of values
	}{projectID, types, vars})
	if err != nil {
		return "", false
	}
	var key strings.Builder
	key.Grow(len(oc.RawQuery) + len(oc.OperationName) + len(b) + 2)
	key.WriteString(oc.RawQuery)
	key.WriteByte(0)
	key.WriteString(oc.OperationName)
	key.WriteByte(0)
	key.Write(b)
	return key.String(), true
}

// sharable reports whether an event's selection renders the same for every
// member: plain fields of the event only. The objects it points at
// (approval, project) are read with the caller's own credentials, which a
// group's rendering does not have, so such operations run per subscriber,
// as do selections through fragments, which could reach them.
func sharable(set ast.SelectionSet) bool {
	for _, sel := range set {
		f, ok := sel.(*ast.Field)
		if !ok || f.Name == "approval" || f.Name == "project" {
			return false
		}
	}
	return true
}

// renderer executes a group's operation once and renders each event
// through it.
type renderer struct {
	mu        sync.Mutex
	src       chan *model.Event
	responses graphql.ResponseHandler
	ctx       context.Context
	cancel    context.CancelFunc
}

func newRenderer(exec graphql.GraphExecutor, oc *graphql.OperationContext) *renderer {
	src := make(chan *model.Event, 1)
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), renderSourceKey{}, src))
	responses, ctx := exec.DispatchOperation(graphql.StartOperationTrace(ctx), oc)
	return &renderer{src: src, responses: responses, ctx: ctx, cancel: cancel}
}

// Render returns the encoded result of ev, as a next message's payload;
// ok is false when gqlgen gives no response or it cannot be encoded.
func (r *renderer) Render(ev *event.Event) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.src <- toEvent(*ev)
	resp := r.responses(r.ctx)
	if resp == nil {
		return nil, false
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, false
	}
	return b, true
}

func (r *renderer) Close() { r.cancel() }

// streamMember adapts a websocket stream to live.Member.
type streamMember struct{ s *gqlws.Stream }

func (m streamMember) Send(payload []byte) bool { return m.s.Send(payload) }
func (m streamMember) SendWait(ctx context.Context, payload []byte) bool {
	return m.s.SendWait(ctx, payload)
}
func (m streamMember) End(err error) { m.s.End(err) }
