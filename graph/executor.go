package graph

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"golang.org/x/sync/semaphore"
)

// This file holds what the generated code calls instead of two of gqlgen's
// functions, which spend per object or per list element what this server
// can save; go generate's second step (internal/tools/gqlgenrewrite)
// points generated.go at them, with the same parameters. Each made a
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

// marshalSliceConcurrently is gqlgen's graphql.MarshalSliceConcurrently,
// which the generated code calls for every list of objects, with one
// change: the elements run on reused goroutines (listWorkers) instead of a
// new goroutine each. A new goroutine starts with a small stack and grows
// it, copying it each time, as the element descends through its fields'
// resolvers and middleware: on a page of 100 approvals this copying was
// the largest single cost of the response. A reused goroutine has grown
// its stack already. The rest (a field context per element, the worker
// limit, panics turned into a null element and an error) is gqlgen's.
func marshalSliceConcurrently(
	ctx context.Context,
	length int,
	workerLimit int64,
	omitPanicHandler bool,
	marshalElement func(ctx context.Context, i int) graphql.Marshaler,
) graphql.Array {
	if length <= 1 {
		// One element needs no other goroutine: gqlgen's own path.
		return graphql.MarshalSliceConcurrently(ctx, length, workerLimit, omitPanicHandler, marshalElement)
	}
	ret := make(graphql.Array, length)
	var wg sync.WaitGroup
	var sm *semaphore.Weighted
	if workerLimit > 0 {
		sm = semaphore.NewWeighted(workerLimit)
	}
	for i := range length {
		childCtx := graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
		if sm != nil {
			if err := sm.Acquire(ctx, 1); err != nil {
				graphql.AddError(childCtx, ctx.Err())
				for j := i; j < length; j++ {
					ret[j] = graphql.Null
				}
				break
			}
		}
		wg.Add(1)
		listWorkers.run(func() {
			defer wg.Done()
			if sm != nil {
				defer sm.Release(1)
			}
			if !omitPanicHandler {
				defer func() {
					if r := recover(); r != nil {
						graphql.AddError(childCtx, graphql.Recover(childCtx, r))
						ret[i] = graphql.Null
					}
				}()
			}
			ret[i] = marshalElement(childCtx, i)
		})
	}
	wg.Wait()
	return ret
}

// listWorkers runs the elements of every list the server marshals. A burst
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

// work runs task, then the tasks handed to it, until none comes for idle
// or enough others are waiting.
func (p *workerPool) work(task func()) {
	p.workers.Add(1)
	defer p.workers.Add(-1)
	task()
	timer := time.NewTimer(p.idle)
	defer timer.Stop()
	for {
		if p.waiting.Add(1) > p.maxIdle {
			p.waiting.Add(-1)
			return
		}
		select {
		case task := <-p.tasks:
			p.waiting.Add(-1)
			task()
			timer.Reset(p.idle)
		case <-timer.C:
			p.waiting.Add(-1)
			return
		}
	}
}
