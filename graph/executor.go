package graph

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ottr/backend/internal/platform/apperr"
)

// This file holds what the generated code calls instead of five of
// gqlgen's functions, which spend per object or per list element what this
// server can save; go generate's second step (internal/tools/gqlgenrewrite)
// points generated.go at them, with the same parameters (and, for
// resolveField, the object's context and field before them). Each made a
// dashboard's page measurably cheaper (BENCHMARKS.md).

// newDeferredGroup is graphql.NewDeferredGroup for a schema without @defer.
// gqlgen makes every object of every answer a group for its @defer'd
// fields, reading the object's path to name their payloads and allocating
// a field set and a map, about 4 % of a page's CPU. This schema does not
// declare @defer, so validation refuses a document that uses it
// (TestDeferIsNotOffered) and no field is ever added to the group: the
// object's context is all it needs to hold.
func newDeferredGroup(ctx context.Context) graphql.DeferredGroup {
	return graphql.DeferredGroup{Context: ctx}
}

// objectFields is what an object's marshalling returns instead of its
// field set (gqlgen's generated code returns the set itself): it writes
// the object's fields as gqlgen's FieldSet.MarshalGQL does, the first of
// each response name only, in order. gqlgen's own made a map, an iterator
// and a copy of every field on the heap for each object written: a fifth
// of a page of 100 approvals' allocations.
type objectFields struct {
	fields []graphql.CollectedField
	set    *graphql.FieldSet
}

// smallObject is the most fields an object may have for a response name to
// be looked for among the earlier fields' names one by one; past it, a map
// keeps the look linear in the object's size.
const smallObject = 8

func (o objectFields) MarshalGQL(w io.Writer) {
	var seen map[string]struct{}
	if len(o.fields) > smallObject {
		seen = make(map[string]struct{}, len(o.fields))
	}
	w.Write(openBrace)
	first := true
	for i := range o.fields {
		alias := o.fields[i].Alias
		if o.written(i, alias, seen) {
			continue
		}
		if !first {
			w.Write(comma)
		}
		first = false
		// A response name is a GraphQL name ([_A-Za-z][_0-9A-Za-z]*, the
		// parser refuses any other): nothing in it needs escaping.
		w.Write(quote)
		io.WriteString(w, alias)
		w.Write(quoteColon)
		o.set.Values[i].MarshalGQL(w)
	}
	w.Write(closeBrace)
}

// written reports whether a field named alias came before field i. Two
// fields share a name only when fragments on unrelated types select the
// same field; the first is the one written, as in gqlgen.
func (o objectFields) written(i int, alias string, seen map[string]struct{}) bool {
	if seen != nil {
		if _, ok := seen[alias]; ok {
			return true
		}
		seen[alias] = struct{}{}
		return false
	}
	for j := range i {
		if o.fields[j].Alias == alias {
			return true
		}
	}
	return false
}

var (
	openBrace  = []byte{'{'}
	closeBrace = []byte{'}'}
	comma      = []byte{','}
	quote      = []byte{'"'}
	quoteColon = []byte{'"', ':'}
)

// resolveFieldValue takes the place of gqlgen's graphql.ResolveField, which
// the generated code calls for every field of every object. gqlgen runs
// each field through the operation's field middleware; the only one here
// is aroundFields, which for a field that reads its object's own struct
// field (no resolver, no method, no directive) has nothing to do: such a
// field reads memory, fails never and cannot find its client gone. On a
// page of 100 approvals, thousands of fields are of that kind, and the
// middleware's closures and calls were about a tenth of the page's CPU.
// Such a field is resolved here as gqlgen's own resolveField does, less
// the middleware: its field context, its panic guard, its null checks and
// its marshalling are gqlgen's. Every other field goes to gqlgen.
func resolveFieldValue[T any](
	ctx context.Context,
	oc *graphql.OperationContext,
	field graphql.CollectedField,
	initializeFieldContext func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error),
	fieldResolver func(ctx context.Context) (any, error),
	middlewareChain func(ctx context.Context, next graphql.Resolver) graphql.Resolver,
	marshal func(ctx context.Context, sel ast.SelectionSet, v T) graphql.Marshaler,
	recoverFromPanic bool,
	nonNull bool,
) (ret graphql.Marshaler) {
	fc, err := initializeFieldContext(ctx, field)
	if err != nil {
		return graphql.Null
	}
	if fc.IsResolver || fc.IsMethod || middlewareChain != nil {
		made := func(context.Context, graphql.CollectedField) (*graphql.FieldContext, error) { return fc, nil }
		return graphql.ResolveField(ctx, oc, field, made, fieldResolver, middlewareChain, marshal, recoverFromPanic, nonNull)
	}
	ctx = graphql.WithFieldContext(ctx, fc)
	if recoverFromPanic {
		defer nullOnPanic(ctx, oc, &ret)
	}
	res, err := fieldResolver(ctx)
	if err != nil {
		// gqlgen writes a struct's field to return no error; should that
		// change, nothing of the error reaches the client but INTERNAL.
		oc.Error(ctx, graphql.AddFieldLocationToError(ctx, apperr.Internal()))
		return graphql.Null
	}
	if res == nil {
		if nonNull || fc.NonNull {
			graphql.AddInvalidNullError(ctx, "")
		}
		if fc.NonNull && !nonNull {
			return graphql.RequiredNull
		}
		return graphql.Null
	}
	if v, ok := res.(T); ok {
		fc.Result = v
		return marshal(ctx, field.Selections, v)
	}
	if v, ok := res.(graphql.Marshaler); ok {
		fc.Result = v
		return v
	}
	var want T
	oc.Errorf(ctx, "unexpected type %T from middleware/directive chain, should be %T", res, want)
	return graphql.Null
}

// resolveField takes the place of gqlgen's FieldSet.ResolveConcurrently,
// which the generated code calls for every field with a resolver: gqlgen
// resolves such fields when the object's field set is dispatched, all but
// the first on a new goroutine each. For an object within a list that
// goroutine buys nothing: an element about to wait for a loader starts
// the rest of its list at once (marshalSliceConcurrently), so a loader
// still sees every element's key within its window, and the fields it reads were mostly read before the list was
// marshalled (startApprovals). On a page of 100 approvals, each asking for
// its project and its events, the goroutine per approval and the stack it
// grows were the largest cost left after the list's own. So a field of an
// object within a list is resolved at once, on the element's goroutine,
// with gqlgen's panic guard and counting; any other field, and a deferred
// one, goes to gqlgen as before, keeping a lone object's fields side by
// side.
func resolveField(
	ctx context.Context,
	field graphql.CollectedField,
	m *graphql.FieldSet,
	oc *graphql.OperationContext,
	deferred *graphql.DeferredGroup,
	i int,
	recoverFromPanic bool,
	nonNull bool,
	resolve func(ctx context.Context) graphql.Marshaler,
) {
	if field.IsDeferred() || !inListElement(ctx) {
		m.ResolveConcurrently(oc, deferred, i, recoverFromPanic, nonNull, resolve)
		return
	}
	v := resolveGuarded(ctx, oc, recoverFromPanic, resolve)
	m.Values[i] = v
	// The value that makes the enclosing object null, counted as gqlgen
	// counts it once its field set is dispatched.
	invalid := graphql.RequiredNull
	if nonNull {
		invalid = graphql.Null
	}
	if v == invalid {
		atomic.AddUint32(&m.Invalids, 1)
	}
}

// resolveGuarded runs resolve; when recoverFromPanic is set, a panic is
// reported as the field's error and resolves to null, as in gqlgen.
func resolveGuarded(
	ctx context.Context,
	oc *graphql.OperationContext,
	recoverFromPanic bool,
	resolve func(ctx context.Context) graphql.Marshaler,
) (v graphql.Marshaler) {
	if recoverFromPanic {
		defer nullOnPanic(ctx, oc, &v)
	}
	return resolve(ctx)
}

// nullOnPanic, deferred, turns a field's panic into the field's error and
// a null value, as gqlgen's own guard does.
func nullOnPanic(ctx context.Context, oc *graphql.OperationContext, v *graphql.Marshaler) {
	if r := recover(); r != nil {
		oc.Error(ctx, oc.Recover(ctx, r))
		*v = graphql.Null
	}
}

// inListElement reports whether ctx is within an element of a list.
func inListElement(ctx context.Context) bool {
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		if fc.Index != nil {
			return true
		}
	}
	return false
}

// marshalSliceConcurrently takes the place of gqlgen's
// graphql.MarshalSliceConcurrently, which the generated code calls for
// every list of objects and which starts every element at once, on a
// goroutine of its own. Elements must run together only when they wait:
// a loader waits a window (loaderWait) for keys before it reads, and an
// element that waits alone makes the next wait again; elements that read
// the database should wait for it side by side. On a dashboard's page the
// loaders were filled before the list was marshalled (startApprovals), no
// element waits, and handing fifty elements to other goroutines and
// waiting for them cost more than the elements themselves.
//
// So the elements run one after another on the caller's goroutine until
// one of them is about to wait: a loader asked for a key it does not hold,
// and the store about to send a statement (store.WithWaitNotice), say so
// (aboutToWait) before they wait, and then every element not yet
// started starts at once, each on a worker (listWorkers), in this list
// and in every list around it, and asks within the same window. Anything
// else that makes an element wait is caught by time: when no element has
// finished for listStall, the rest start the same way. The rest (a field
// context per element, panics turned into a null element and an error)
// is gqlgen's; a list with a worker limit runs as gqlgen runs it.
func marshalSliceConcurrently(
	ctx context.Context,
	length int,
	workerLimit int64,
	omitPanicHandler bool,
	marshalElement func(ctx context.Context, i int) graphql.Marshaler,
) graphql.Array {
	if length <= 1 || workerLimit > 0 {
		// One element has no other to wait with; a limit is gqlgen's to keep.
		return graphql.MarshalSliceConcurrently(ctx, length, workerLimit, omitPanicHandler, marshalElement)
	}
	l := &listRun{ret: make(graphql.Array, length), outer: runningList(ctx)}
	ctx = context.WithValue(ctx, listRunKey{}, l)
	l.element = func(i int) {
		childCtx := graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
		if !omitPanicHandler {
			defer func() {
				if r := recover(); r != nil {
					graphql.AddError(childCtx, graphql.Recover(childCtx, r))
					l.ret[i] = graphql.Null
				}
			}()
		}
		l.ret[i] = marshalElement(childCtx, i)
		l.finished.Add(1)
	}
	l.watch(time.Duration(listStall.Load()))
	for {
		i, ok := l.claim()
		if !ok {
			break
		}
		l.element(i)
	}
	l.stopWatching()
	l.spread.Wait()
	return l.ret
}

// listStall is how long a list's elements, run one after another, may go
// without one finishing before the rest start at once: an element that
// waits for something other than a loader or the database (which say so
// at once) waits this long alone. A page's element takes tens of
// microseconds. In nanoseconds; a variable for the tests that show what
// happens without it, atomic as another test's server may be marshalling.
var listStall atomic.Int64

func init() { listStall.Store(int64(time.Millisecond)) }

type listRunKey struct{}

// listRun is a list being marshalled by marshalSliceConcurrently.
type listRun struct {
	ret      graphql.Array
	element  func(i int) // runs element i and stores it in ret
	outer    *listRun    // the list this one is an element's field of, if any
	next     atomic.Int64
	finished atomic.Int64 // elements done, for the stall watch
	spreadAt atomic.Bool  // the rest were started on workers
	spread   sync.WaitGroup

	mu      sync.Mutex // the stall watch's
	timer   *time.Timer
	stopped bool
}

// runningList returns the innermost list whose element ctx is in.
func runningList(ctx context.Context) *listRun {
	l, _ := ctx.Value(listRunKey{}).(*listRun)
	return l
}

// claim takes the next element not yet started, if any.
func (l *listRun) claim() (int, bool) {
	i := int(l.next.Add(1) - 1)
	return i, i < len(l.ret)
}

// spreadOut starts every element not yet started, each on a worker. The
// caller is an element of this list or of a list within it, or the stall
// watch, so the list's caller has not yet waited for spread, or is
// already counted in it.
func (l *listRun) spreadOut() {
	if l.spreadAt.Swap(true) {
		return
	}
	for {
		l.spread.Add(1)
		i, ok := l.claim()
		if !ok {
			l.spread.Done()
			return
		}
		listWorkers.run(func() {
			defer l.spread.Done()
			l.element(i)
		})
	}
}

// watch starts the stall watch: every period, the list spreads out unless
// an element finished since the last look. Until the watch has ended, it
// counts in spread.
func (l *listRun) watch(period time.Duration) {
	l.spread.Add(1)
	seen := int64(0)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = time.AfterFunc(period, func() {
		l.mu.Lock()
		if l.stopped || l.next.Load() >= int64(len(l.ret)) {
			// Every element has started; the caller waits for the rest.
			l.mu.Unlock()
			l.spread.Done()
			return
		}
		if now := l.finished.Load(); now != seen {
			seen = now
			l.timer.Reset(period)
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		l.spreadOut()
		l.spread.Done()
	})
}

// stopWatching ends the stall watch once the caller has run out of elements
// to claim.
func (l *listRun) stopWatching() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	if l.timer.Stop() {
		l.spread.Done() // it will not run again
	}
}

// aboutToWait starts at once the elements not yet started of every list
// ctx is within: the caller is about to wait for a loader's window, and
// the other elements should ask it within the same window, or for the
// database, which the other elements need not wait for.
func aboutToWait(ctx context.Context) {
	for l := runningList(ctx); l != nil; l = l.outer {
		l.spreadOut()
	}
}

// listWorkers runs the elements of a list that were started at once, once
// one of them was about to wait (listRun.spreadOut). A burst
// of thousands of elements at once (a dashboard's subscriptions all
// receiving one event) leaves at most 1,024 of its workers waiting.
var listWorkers = newWorkerPool(10*time.Second, 1024)

// workerPool runs tasks on goroutines that wait for the next task once done,
// for up to idle. A task never waits for a worker: when none is waiting,
// it gets a new goroutine, which then joins the pool. So the pool is as
// large as the most tasks that ran at once in the last idle period (up to
// maxIdle of them waiting), and none at rest.
type workerPool struct {
	idle    time.Duration
	maxIdle int64
	tasks   chan func()  // unbuffered: a send succeeds only to a waiting worker
	workers atomic.Int64 // goroutines running a task or waiting for one
	waiting atomic.Int64 // of which waiting
}

func newWorkerPool(idle time.Duration, maxIdle int64) *workerPool {
	return &workerPool{idle: idle, maxIdle: maxIdle, tasks: make(chan func())}
}

func (p *workerPool) run(task func()) {
	select {
	case p.tasks <- task: // a waiting worker took it
	default:
		go p.work(task)
	}
}

// work runs task, then the tasks handed to it, until none comes for
// between idle and twice as long, or enough others are waiting. Its timer
// is set again only when it fires after a task: reset after every task, it
// cost a page of 100 approvals a timer update per element.
func (p *workerPool) work(task func()) {
	p.workers.Add(1)
	defer p.workers.Add(-1)
	task()
	timer := time.NewTimer(p.idle)
	defer timer.Stop()
	ran := false // since the timer was last set
	for {
		if p.waiting.Add(1) > p.maxIdle {
			p.waiting.Add(-1)
			return
		}
		select {
		case task := <-p.tasks:
			p.waiting.Add(-1)
			task()
			ran = true
		case <-timer.C:
			p.waiting.Add(-1)
			if !ran {
				return
			}
			ran = false
			timer.Reset(p.idle)
		}
	}
}
