package graph

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vikstrous/dataloadgen"

	"github.com/ottr/backend/graph/model"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
)

// loaderWait is how long a loader collects keys before it queries. An
// element of a list that is about to wait for a loader starts the rest of
// its list at once (aboutToWait), so the fields of one page mostly ask
// within this window; the pages that know every key their
// fields will ask for (approvals, keys) read them at once instead and
// wait for no window (startApprovals).
// At 2 ms, BenchmarkApprovalPage/graphql/n=10 took 15 ms an op; at 0.5 ms,
// 7.4 ms.
const loaderWait = 500 * time.Microsecond

// inProject names an object of a project: the project's id comes with every
// key, so that a batch is authorized per project, once.
type inProject struct {
	ProjectID string
	Key       string
}

// loaders batch and cache, for one response, the reads that the fields of
// many objects make: one query for all the approvals of a page instead of
// one per approval. They are made anew for every response (for a
// subscription, every event), so nothing read for one caller or one
// moment is seen by another.
type loaders struct {
	project  *loader[string, *model.Project]
	approval *loader[string, *model.Approval]
	events   *loader[inProject, []*model.Event]
	pending  *loader[inProject, *model.Approval]
	channel  *loader[string, *model.SlackChannel]
	event    *loader[int64, *model.Event]
	// user is nil for an account that no longer exists.
	user *loader[string, *model.User]

	// The reads behind events, pending and user, for the pages that make
	// them at once (fill).
	readEvents func(context.Context, []inProject) ([][]*model.Event, []error)
	// readEventSummaries reads a page's events in part (attachEventSummaries).
	readEventSummaries func(ctx context.Context, projectID string, approvalIDs []string) (map[string][]event.Event, error)
	readPending        func(context.Context, []inProject) ([]*model.Approval, []error)
	readUsers          func(context.Context, []string) ([]*model.User, []error)
}

type loadersKey struct{}

// loader is a dataloadgen loader that knows the keys it can answer without
// waiting: those primed, and those it was asked for before in this
// response. Asked for any other, it first says that its caller is about to
// wait (aboutToWait), so that the other elements of the caller's list,
// which run one after another until then, start and ask within the same
// window.
type loader[K comparable, V any] struct {
	*dataloadgen.Loader[K, V]
	mu    sync.Mutex
	ready map[K]struct{}
}

func newLoader[K comparable, V any](fetch func(context.Context, []K) ([]V, []error), options ...dataloadgen.Option) *loader[K, V] {
	return &loader[K, V]{Loader: dataloadgen.NewLoader(fetch, options...), ready: map[K]struct{}{}}
}

// Prime is dataloadgen's Prime: the key is answered without waiting.
func (l *loader[K, V]) Prime(key K, value V) bool {
	primed := l.Loader.Prime(key, value)
	l.markReady(key)
	return primed
}

// Load is dataloadgen's Load; the key is then answered without waiting.
func (l *loader[K, V]) Load(ctx context.Context, key K) (V, error) {
	ready := l.isReady(key)
	if !ready {
		aboutToWait(ctx)
	}
	v, err := l.Loader.Load(ctx, key)
	if !ready {
		l.markReady(key)
	}
	return v, err
}

// LoadAll is dataloadgen's LoadAll; the keys are then answered without
// waiting.
func (l *loader[K, V]) LoadAll(ctx context.Context, keys []K) ([]V, error) {
	ready := l.isReady(keys...)
	if !ready {
		aboutToWait(ctx)
	}
	v, err := l.Loader.LoadAll(ctx, keys)
	if !ready {
		l.markReady(keys...)
	}
	return v, err
}

func (l *loader[K, V]) isReady(keys ...K) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if _, ok := l.ready[k]; !ok {
			return false
		}
	}
	return true
}

func (l *loader[K, V]) markReady(keys ...K) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		l.ready[k] = struct{}{}
	}
}

func (r *Resolver) newLoaders() *loaders {
	wait := dataloadgen.WithWait(loaderWait)
	readEvents := func(ctx context.Context, keys []inProject) ([][]*model.Event, []error) {
		return byProject(keys, func(projectID string, ids []string) (map[string][]*model.Event, error) {
			events, err := r.EventQueries.ForApprovals(ctx, projectID, ids)
			if err != nil {
				return nil, err
			}
			out := make(map[string][]*model.Event, len(events))
			for id, evs := range events {
				out[id] = mapAll(evs, toEvent)
			}
			return out, nil
		}, func() []*model.Event { return []*model.Event{} })
	}
	readPending := func(ctx context.Context, keys []inProject) ([]*model.Approval, []error) {
		return byProject(keys, func(projectID string, paths []string) (map[string]*model.Approval, error) {
			pending, err := r.ApprovalService.Keys().PendingForPaths(ctx, projectID, paths)
			if err != nil {
				return nil, err
			}
			out := make(map[string]*model.Approval, len(pending))
			for path, a := range pending {
				out[path] = toOptionalApproval(a)
			}
			return out, nil
		}, func() *model.Approval { return nil })
	}
	readUsers := func(ctx context.Context, ids []string) ([]*model.User, []error) {
		found, err := r.AuthService.Users(ctx, ids)
		if err != nil {
			return nil, []error{err}
		}
		out := make([]*model.User, len(ids))
		for i, id := range ids {
			if u := found[id]; u != nil {
				out[i] = toUser(*u)
			}
		}
		return out, nil
	}
	return &loaders{
		readEvents: readEvents, readPending: readPending, readUsers: readUsers,
		readEventSummaries: r.EventQueries.SummariesForApprovals,
		project: newLoader(func(ctx context.Context, ids []string) ([]*model.Project, []error) {
			return eachKey(ids, func(id string) (*model.Project, error) {
				p, err := r.ProjectService.Get(ctx, id)
				if err != nil {
					return nil, err
				}
				return toProject(*p), nil
			})
		}, wait),
		approval: newLoader(func(ctx context.Context, ids []string) ([]*model.Approval, []error) {
			found, err := r.ApprovalService.GetMany(ctx, ids)
			if err != nil {
				return nil, []error{err}
			}
			out := make([]*model.Approval, len(ids))
			for i, id := range ids {
				out[i] = toOptionalApproval(found[id])
			}
			return out, nil
		}, wait),
		events:  newLoader(readEvents, wait),
		pending: newLoader(readPending, wait),
		channel: newLoader(func(ctx context.Context, ids []string) ([]*model.SlackChannel, []error) {
			return eachKey(ids, func(id string) (*model.SlackChannel, error) {
				c, err := r.SlackService.Get(ctx, id, project.ReadSettings)
				if err != nil {
					return nil, err
				}
				return toSlackChannel(*c), nil
			})
		}, wait),
		user: newLoader(readUsers, wait),
		event: newLoader(func(ctx context.Context, ids []int64) ([]*model.Event, []error) {
			found, err := r.EventQueries.GetMany(ctx, ids)
			if err != nil {
				return nil, []error{err}
			}
			out, errs := make([]*model.Event, len(ids)), make([]error, len(ids))
			for i, id := range ids {
				if ev := found[id]; ev != nil {
					out[i] = toEvent(*ev)
				} else {
					errs[i] = apperr.NotFound("event")
				}
			}
			return out, errs
		}, wait),
	}
}

// lazyLoaders makes a response's loaders when a field first needs them:
// most responses (a single approval, a mutation) never do.
type lazyLoaders struct {
	once sync.Once
	r    *Resolver
	l    *loaders
}

// loadersFor returns the loaders of the response being made.
func loadersFor(ctx context.Context) *loaders {
	lazy, _ := ctx.Value(loadersKey{}).(*lazyLoaders)
	if lazy == nil {
		panic("graph: no loaders in the context; the handler installs them for every response")
	}
	lazy.once.Do(func() { lazy.l = lazy.r.newLoaders() })
	return lazy.l
}

// withLoaders gives every response, of a query, a mutation or one event of
// a subscription, loaders of its own, and tells the store to say when a
// statement is about to wait (aboutToWait).
func withLoaders(r *Resolver) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		// The caller's memberships are read once per response too.
		ctx = project.WithAccessMemo(ctx)
		// A list's element about to wait for the database starts the rest
		// of its list, as one about to wait for a loader does.
		ctx = store.WithWaitNotice(ctx, aboutToWait)
		return next(context.WithValue(ctx, loadersKey{}, &lazyLoaders{r: r}))
	}
}

// eachKey loads the keys one by one, for the loaders whose objects are
// rarely more than one per response (a page's project): the loader still
// reads each key once.
func eachKey[K comparable, V any](keys []K, load func(K) (V, error)) ([]V, []error) {
	out, errs := make([]V, len(keys)), make([]error, len(keys))
	for i, k := range keys {
		out[i], errs[i] = load(k)
	}
	return out, errs
}

// byProject loads the keys in one read per project, in key order; a key the
// read did not return gets none().
func byProject[V any](keys []inProject, read func(projectID string, keys []string) (map[string]V, error), none func() V) ([]V, []error) {
	grouped := map[string][]string{}
	for _, k := range keys {
		grouped[k.ProjectID] = append(grouped[k.ProjectID], k.Key)
	}
	found, failed := map[string]map[string]V{}, map[string]error{}
	for projectID, ids := range grouped {
		found[projectID], failed[projectID] = read(projectID, ids)
	}
	out, errs := make([]V, len(keys)), make([]error, len(keys))
	for i, k := range keys {
		if errs[i] = failed[k.ProjectID]; errs[i] != nil {
			continue
		}
		v, ok := found[k.ProjectID][k.Key]
		if !ok {
			v = none()
		}
		out[i] = v
	}
	return out, errs
}

// startApprovals makes at once the reads that the fields of a page of
// approvals will ask for, and primes the loaders with them: a page's events
// are read in one query, and no field waits for a loader's window to close.
// The approvals themselves and their project are known already; whole
// ones serve the loader of approvals too.
func startApprovals(ctx context.Context, p *model.Project, approvals []*model.Approval) {
	l := loadersFor(ctx)
	l.project.Prime(p.ID, p)
	for _, a := range approvals {
		// A partial approval answers only the page's own selection.
		if !a.Partial {
			l.approval.Prime(a.ID, a)
		}
	}
	if pageEventsInPart(ctx, approvals) {
		attachEventSummaries(ctx, l, p.ID, approvals)
	} else if selected(ctx, "edges", "node", "events") {
		keys := make([]inProject, len(approvals))
		for i, a := range approvals {
			keys[i] = inProject{a.ProjectID, a.ID}
		}
		fill(ctx, l.events, l.readEvents, keys)
	}
	// The users a page names, as deciders or as who decided, in one query.
	deciders := selected(ctx, "edges", "node", "deciders")
	decidedBy := selected(ctx, "edges", "node", "decision", "decidedBy", "user")
	users := map[string]bool{}
	for _, a := range approvals {
		if deciders {
			for _, id := range a.DeciderIDs {
				users[id] = true
			}
		}
		if decidedBy && a.Decision != nil && a.Decision.DecidedBy != nil && a.Decision.DecidedBy.UserID != nil {
			users[*a.Decision.DecidedBy.UserID] = true
		}
	}
	if len(users) > 0 {
		fill(ctx, l.user, l.readUsers, slices.Collect(maps.Keys(users)))
	}
}

// attachEventSummaries reads the events of a page of partial approvals in
// part, in one query, and gives each approval its own (PageEvents). They
// are not primed into the events loader: another selection of the same
// approvals' events would find them there. A failed read leaves the
// approvals without: each events field then reads through the loader and
// reports its own error.
func attachEventSummaries(ctx context.Context, l *loaders, projectID string, approvals []*model.Approval) {
	ids := make([]string, len(approvals))
	for i, a := range approvals {
		ids[i] = a.ID
	}
	events, err := l.readEventSummaries(ctx, projectID, ids)
	if err != nil {
		return
	}
	for _, a := range approvals {
		a.PageEvents = mapAll(events[a.ID], toEvent)
	}
}

// startKeys does for a page of keys what startApprovals does for
// approvals: their pending approvals are read in one query.
func startKeys(ctx context.Context, p *model.Project, keys []*model.KeyValue) {
	l := loadersFor(ctx)
	l.project.Prime(p.ID, p)
	if selected(ctx, "edges", "node", "pendingApproval") {
		paths := make([]inProject, len(keys))
		for i, kv := range keys {
			paths[i] = inProject{kv.ProjectID, kv.Path}
		}
		fill(ctx, l.pending, l.readPending, paths)
	}
}

// fill reads keys at once and primes loader with what it found. A key whose
// read failed is left out: the field that asks for it reads it through the
// loader and reports its own error.
func fill[K comparable, V any](ctx context.Context, loader interface{ Prime(K, V) bool }, read func(context.Context, []K) ([]V, []error), keys []K) {
	if len(keys) == 0 {
		return
	}
	values, errs := read(ctx, keys)
	if len(values) != len(keys) {
		return
	}
	for i, k := range keys {
		// A read fails for all its keys (one error) or for each on its own.
		if len(errs) == 1 && errs[0] != nil || len(errs) == len(keys) && errs[i] != nil {
			continue
		}
		loader.Prime(k, values[i])
	}
}
