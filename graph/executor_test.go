package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vikstrous/dataloadgen"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// A list's elements run at the same time, as with gqlgen's own function:
// the loaders batch what the elements ask for only if every element asks
// before the first is answered. Here each element waits until all have
// started; run one after another, they would never finish.
func TestListElementsRunTogether(t *testing.T) {
	const n = 50
	var started sync.WaitGroup
	started.Add(n)
	all := make(chan struct{})
	go func() { started.Wait(); close(all) }()

	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil)
	done := make(chan graphql.Array)
	go func() {
		done <- marshalSliceConcurrently(ctx, n, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
			started.Done()
			<-all
			if got := *graphql.GetFieldContext(ctx).Index; got != i {
				t.Errorf("element %d has index %d in its field context", i, got)
			}
			return graphql.MarshalInt(i)
		})
	}()
	select {
	case ret := <-done:
		var buf bytes.Buffer
		ret.MarshalGQL(&buf)
		var got []int
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil || len(got) != n || got[0] != 0 || got[n-1] != n-1 {
			t.Fatalf("list %s (%v), want 0..%d in order", buf.String(), err, n-1)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the elements did not run together")
	}
}

// A panicking element becomes null with an error, as with gqlgen's own
// function, and its worker goes on to serve other lists.
func TestListElementPanicIsNullAndAnError(t *testing.T) {
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, func(ctx context.Context, p any) error {
		return gqlerror.Errorf("recovered: %v", p)
	})
	for range 3 {
		ret := marshalSliceConcurrently(ctx, 4, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
			if i == 2 {
				panic("element two")
			}
			return graphql.MarshalInt(i)
		})
		if ret[2] != graphql.Null || ret[1] == graphql.Null || ret[3] == graphql.Null {
			t.Fatalf("elements %v: want only the third null", ret)
		}
	}
	errs := graphql.GetErrors(ctx)
	if len(errs) != 3 || !strings.Contains(errs[0].Message, "element two") {
		t.Fatalf("errors %v: want one per list, naming the panic", errs)
	}
}

// Workers wait for the next task after theirs, so a second list reuses the
// first list's goroutines; with nothing to do they end after the idle time.
func TestWorkersAreReusedThenEnd(t *testing.T) {
	pool := newWorkerPool(200*time.Millisecond, 1024)
	var ran atomic.Int32
	runBatch := func() {
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			pool.run(func() {
				defer wg.Done()
				ran.Add(1)
				time.Sleep(5 * time.Millisecond)
			})
		}
		wg.Wait()
	}
	runBatch()
	first := pool.workers.Load()
	if first < 1 || first > 20 {
		t.Fatalf("%d workers after a batch of 20 tasks, want between 1 and 20 waiting", first)
	}
	for range 5 {
		time.Sleep(20 * time.Millisecond) // for the workers to be waiting again
		runBatch()
	}
	// Without reuse there would be 120 by now (none has been idle long
	// enough to end); a worker slow to wait again may cost a few more.
	if now := pool.workers.Load(); now > 40 {
		t.Errorf("%d workers after six batches of 20, %d after the first: they were not reused", now, first)
	}
	if got := ran.Load(); got != 120 {
		t.Errorf("%d tasks ran, want 120", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for pool.workers.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if now := pool.workers.Load(); now != 0 {
		t.Errorf("%d workers a while after the last task: idle workers did not end", now)
	}
}

// Past maxIdle waiting workers, a worker that finishes its task ends
// instead of waiting.
func TestWaitingWorkersAreCapped(t *testing.T) {
	pool := newWorkerPool(time.Minute, 5)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		pool.run(func() {
			defer wg.Done()
			<-release
		})
	}
	started := time.Now().Add(5 * time.Second)
	for pool.workers.Load() < 30 && time.Now().Before(started) {
		time.Sleep(time.Millisecond)
	}
	if got := pool.workers.Load(); got != 30 {
		t.Fatalf("%d workers for 30 blocked tasks, want 30", got)
	}
	close(release)
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for pool.workers.Load() > 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got, waiting := pool.workers.Load(), pool.waiting.Load(); got != 5 || waiting != 5 {
		t.Fatalf("%d workers, %d waiting, after 30 tasks ended: want 5 and 5", got, waiting)
	}
	var again sync.WaitGroup
	again.Add(1)
	pool.run(func() { again.Done() })
	again.Wait()
}

// recoveringOperation is an operation context whose panics become errors
// named after them, in a response context that collects the errors.
func recoveringOperation(middleware graphql.FieldMiddleware) (context.Context, *graphql.OperationContext) {
	oc := &graphql.OperationContext{
		RecoverFunc: func(ctx context.Context, p any) error {
			return gqlerror.Errorf("recovered: %v", p)
		},
		ResolverMiddleware: middleware,
	}
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil)
	return graphql.WithOperationContext(ctx, oc), oc
}

// A field of an object within a list is resolved at once, with gqlgen's
// guard and counting: a panic is an error and null, and a null where the
// schema forbids one makes the object invalid. A field of an object not
// within a list waits for its field set's dispatch, as in gqlgen.
func TestListElementFieldsResolveAtOnce(t *testing.T) {
	ctx, oc := recoveringOperation(nil)
	index := 0
	inList := graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &index})
	inList = graphql.WithFieldContext(inList, &graphql.FieldContext{Field: graphql.CollectedField{Field: &ast.Field{Name: "node"}}})
	fields := []graphql.CollectedField{
		{Field: &ast.Field{Alias: "ok", Name: "ok"}},
		{Field: &ast.Field{Alias: "panics", Name: "panics"}},
		{Field: &ast.Field{Alias: "required", Name: "required"}},
	}
	m := graphql.NewFieldSet(fields)
	deferred := newDeferredGroup(inList)
	resolveField(inList, fields[0], m, oc, &deferred, 0, true, false, func(context.Context) graphql.Marshaler {
		return graphql.MarshalString("yes")
	})
	resolveField(inList, fields[1], m, oc, &deferred, 1, true, true, func(context.Context) graphql.Marshaler {
		panic("boom")
	})
	resolveField(inList, fields[2], m, oc, &deferred, 2, true, false, func(context.Context) graphql.Marshaler {
		return graphql.RequiredNull
	})
	if m.Values[0] == nil || m.Values[0] == graphql.Null {
		t.Fatalf("field of a list element: %v before dispatch, want its value at once", m.Values[0])
	}
	if m.Values[1] != graphql.Null {
		t.Errorf("panicking field: %v, want null", m.Values[1])
	}
	if m.Invalids != 2 {
		t.Errorf("%d invalid fields counted, want 2 (the nulls where the schema forbids one)", m.Invalids)
	}
	if errs := graphql.GetErrors(ctx); len(errs) != 1 || errs[0].Message != "recovered: boom" {
		t.Errorf("errors %v, want the panic's", errs)
	}

	alone := graphql.NewFieldSet(fields[:1])
	deferred = newDeferredGroup(ctx)
	resolveField(ctx, fields[0], alone, oc, &deferred, 0, true, false, func(context.Context) graphql.Marshaler {
		return graphql.MarshalString("yes")
	})
	if alone.Values[0] != nil {
		t.Fatalf("field of a lone object: %v before dispatch, want it left to the dispatch", alone.Values[0])
	}
	alone.Dispatch(ctx)
	if alone.Values[0] == nil || alone.Values[0] == graphql.Null {
		t.Fatalf("field of a lone object: %v after dispatch, want its value", alone.Values[0])
	}
}

// A struct's own field skips the field middleware; a field with a
// resolver or a method goes through it. Either way the field's context is
// in place for its marshalling (its path names it in errors), and a null
// where the schema forbids one is reported.
func TestStructFieldsSkipTheFieldMiddleware(t *testing.T) {
	var calls int
	ctx, oc := recoveringOperation(func(ctx context.Context, next graphql.Resolver) (any, error) {
		calls++
		return next(ctx)
	})
	field := graphql.CollectedField{Field: &ast.Field{Alias: "name", Name: "name"}}
	marshal := func(ctx context.Context, _ ast.SelectionSet, v string) graphql.Marshaler {
		if fc := graphql.GetFieldContext(ctx); fc == nil || fc.Field.Alias != "name" {
			t.Errorf("marshalled without the field's context")
		}
		return graphql.MarshalString(v)
	}
	for _, tc := range []struct {
		name      string
		fc        graphql.FieldContext
		wantCalls int
	}{
		{"struct field", graphql.FieldContext{}, 0},
		{"resolver", graphql.FieldContext{IsResolver: true}, 1},
		{"method", graphql.FieldContext{IsMethod: true}, 1},
	} {
		calls = 0
		initialize := func(context.Context, graphql.CollectedField) (*graphql.FieldContext, error) {
			fc := tc.fc
			fc.Object, fc.Field = "Thing", field
			return &fc, nil
		}
		got := resolveFieldValue(ctx, oc, field, initialize, func(context.Context) (any, error) { return "Bea", nil }, nil, marshal, true, true)
		var buf bytes.Buffer
		got.MarshalGQL(&buf)
		if buf.String() != `"Bea"` || calls != tc.wantCalls {
			t.Errorf("%s: %s with %d middleware calls, want \"Bea\" with %d", tc.name, buf.String(), calls, tc.wantCalls)
		}
	}

	nonNull := func(context.Context, graphql.CollectedField) (*graphql.FieldContext, error) {
		return &graphql.FieldContext{Object: "Thing", Field: field, NonNull: true}, nil
	}
	if got := resolveFieldValue(ctx, oc, field, nonNull, func(context.Context) (any, error) { return nil, nil }, nil, marshal, true, false); got != graphql.RequiredNull {
		t.Errorf("null struct field the schema declares non-null: %v, want the value that nulls its object", got)
	}
	if errs := graphql.GetErrors(ctx); len(errs) != 1 || !strings.Contains(errs[0].Message, "cannot return null") || errs[0].Path.String() != "name" {
		t.Errorf("errors %v, want one saying name cannot be null", errs)
	}
	panics := func(context.Context) (any, error) { panic("boom") }
	if got := resolveFieldValue(ctx, oc, field, nonNull, panics, nil, marshal, true, true); got != graphql.Null {
		t.Errorf("panicking struct field: %v, want null", got)
	}
	if errs := graphql.GetErrors(ctx); len(errs) != 2 || errs[1].Message != "recovered: boom" {
		t.Errorf("errors %v, want the panic's last", errs)
	}
}

// An object is written byte for byte as gqlgen writes its field set: each
// response name once, the first field of that name, in order, whether the
// object is small (names compared one by one) or not (a map).
func TestObjectFieldsAreWrittenAsGqlgenWritesThem(t *testing.T) {
	for _, aliases := range [][]string{
		{},
		{"id"},
		{"id", "keyPath", "status"},
		{"id", "name", "id", "name", "other"},
		{"a", "b", "c", "d", "e", "f", "g", "h", "i", "a", "j", "k", "i", "__typename"},
	} {
		fields := make([]graphql.CollectedField, len(aliases))
		for i, a := range aliases {
			fields[i] = graphql.CollectedField{Field: &ast.Field{Alias: a, Name: a}}
		}
		set := graphql.NewFieldSet(fields)
		for i := range fields {
			set.Values[i] = graphql.MarshalInt(i)
		}
		var want, got bytes.Buffer
		set.MarshalGQL(&want)
		objectFields{fields, set}.MarshalGQL(&got)
		if got.String() != want.String() {
			t.Errorf("fields %v: wrote %s, gqlgen writes %s", aliases, got.String(), want.String())
		}
	}
}

// Elements that wait for nothing run one after another, in order, on the
// caller's goroutine: none starts before the one before it has finished.
func TestListElementsThatDoNotWaitRunInTurn(t *testing.T) {
	const n = 50
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil)
	var running, overlapped atomic.Int32
	var order []int // appended only by elements, which must not overlap
	ret := marshalSliceConcurrently(ctx, n, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		if running.Add(1) > 1 {
			overlapped.Add(1)
		}
		defer running.Add(-1)
		order = append(order, i)
		return graphql.MarshalInt(i)
	})
	if overlapped.Load() != 0 {
		t.Fatalf("%d elements started while another ran", overlapped.Load())
	}
	for i := range n {
		if order[i] != i || ret[i] == graphql.Null {
			t.Fatalf("element %d ran as the %d-th (%v)", order[i], i, ret[i])
		}
	}
}

// An element that asks a loader for a key it does not hold starts every
// element not yet started, of its own list and of the lists around it, so
// that the loader reads all their keys at once, as if every element had
// started together.
func TestLoaderWaitStartsTheRestOfTheLists(t *testing.T) {
	// Not the stall watch: the loader's own word starts them.
	defer listStall.Store(listStall.Swap(int64(time.Hour)))
	const outer, inner = 5, 4
	var batches [][]string
	var mu sync.Mutex
	l := newLoader(func(_ context.Context, keys []string) ([]string, []error) {
		mu.Lock()
		batches = append(batches, keys)
		mu.Unlock()
		return keys, nil
	}, dataloadgen.WithWait(200*time.Millisecond))
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil)
	start := time.Now()
	marshalSliceConcurrently(ctx, outer, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		return marshalSliceConcurrently(ctx, inner, 0, false, func(ctx context.Context, j int) graphql.Marshaler {
			v, err := l.Load(ctx, fmt.Sprintf("%d.%d", i, j))
			if err != nil {
				t.Error(err)
			}
			return graphql.MarshalString(v)
		})
	})
	if len(batches) != 1 || len(batches[0]) != outer*inner {
		t.Fatalf("the loader read %v; want all %d keys in one read", batches, outer*inner)
	}
	// One after another, each element would have waited a window of its own.
	if took := time.Since(start); took > 10*200*time.Millisecond {
		t.Fatalf("the lists took %v", took)
	}
}

// Keys a loader holds (primed, or read before) keep the list in turn: an
// element that finds its key does not start the others.
func TestLoaderHitKeepsTheListInTurn(t *testing.T) {
	const n = 20
	l := newLoader(func(_ context.Context, keys []string) ([]string, []error) {
		t.Errorf("the loader read %v; every key was primed", keys)
		return keys, nil
	}, dataloadgen.WithWait(time.Hour))
	for i := range n {
		l.Prime(strconv.Itoa(i), "value")
	}
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil)
	var running, overlapped atomic.Int32
	marshalSliceConcurrently(ctx, n, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		if running.Add(1) > 1 {
			overlapped.Add(1)
		}
		defer running.Add(-1)
		v, err := l.Load(ctx, strconv.Itoa(i))
		if err != nil || v != "value" {
			t.Errorf("element %d: %q, %v", i, v, err)
		}
		return graphql.MarshalString(v)
	})
	if overlapped.Load() != 0 {
		t.Fatalf("%d elements started while another ran", overlapped.Load())
	}
}

// An element about to send a statement starts the rest of its list at
// once: elements that each read the database wait for it side by side, as
// with gqlgen's own function, through the notice every response's context
// carries (withLoaders). Here each element reads, then waits until all
// have started; with the stall watch off, run one after another they
// would never finish.
func TestStatementStartsTheRestOfTheList(t *testing.T) {
	defer listStall.Store(listStall.Swap(int64(time.Hour)))
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		s := storetest.Open(t, d)
		const n = 8
		var started sync.WaitGroup
		started.Add(n)
		all := make(chan struct{})
		go func() { started.Wait(); close(all) }()
		one := store.NewQuery("SELECT 1")
		done := make(chan struct{})
		go func() {
			defer close(done)
			ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil)
			withLoaders(&Resolver{})(ctx, func(ctx context.Context) *graphql.Response {
				marshalSliceConcurrently(ctx, n, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
					var v int
					if err := s.QueryRow(ctx, one).Scan(&v); err != nil {
						t.Error(err)
					}
					started.Done()
					<-all
					return graphql.MarshalInt(v)
				})
				return nil
			})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the elements that read the database did not run together")
		}
	})
}
