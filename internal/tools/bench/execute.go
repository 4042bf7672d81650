package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/store"
)

const (
	// linkQuery asks for what the approval page shows.
	linkQuery = `query($t: String!) { approvalLink(token: $t) { projectName keyPath info
		actions { key value label style } status expiresAt pinRequired attemptsRemaining nonce } }`
	executeMutation = `mutation($t: String!, $n: String!, $a: String!, $pin: String) {
		executeApproval(token: $t, nonce: $n, action: $a, pin: $pin) { status attemptsRemaining action { key value } } }`
)

// pool is prepared input that ops take one item at a time.
type pool[T any] struct {
	mu    sync.Mutex
	items []T
}

func (p *pool[T]) add(items ...T) {
	p.mu.Lock()
	p.items = append(p.items, items...)
	p.mu.Unlock()
}

func (p *pool[T]) take() (T, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var v T
	if len(p.items) == 0 {
		return v, false
	}
	v = p.items[len(p.items)-1]
	p.items = p.items[:len(p.items)-1]
	return v, true
}

func (p *pool[T]) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.items)
}

// addresses hands out loopback source addresses, 127.0.1.1 onwards, so
// that the link scenario acts as many people and stays within the per-IP
// link limits, which keep their production values.
type addresses struct{ next atomic.Int64 }

func (a *addresses) ip() (net.IP, error) {
	n := a.next.Add(1) - 1
	if n >= 254*250 {
		return nil, errors.New("out of loopback source addresses: run shorter phases")
	}
	return net.IPv4(127, 0, byte(1+n/250), byte(1+n%250)), nil
}

// linkClient is a worker's current person: a client from one address,
// used for approval.ExecuteBurst executions (and as many opens, within
// approval.OpenBurst) before the next address takes over.
type linkClient struct {
	c    *gqlClient
	uses int
}

// runExecute: approvalLink then executeApproval with the PIN, as a person
// on the approval page does, against the same SQL by pgx. Each approval
// has its own key path; ours are created over HTTP beforehand, untimed,
// the baseline's rows by SQL.
func runExecute(ctx context.Context, e *env, r *Report) error {
	srv, p, err := e.setUp(ctx)
	if err != nil {
		return err
	}
	db, err := e.openDirect(ctx, e.opts.concurrency)
	if err != nil {
		return err
	}
	write := newGQLClient(srv.url, p.WriteKey, e.opts.concurrency)
	defer write.close()
	anon := newGQLClient(srv.url, "", 1)
	var (
		seq     atomic.Int64
		tokens  pool[string]
		hashes  pool[string]
		addrs   addresses
		workers = make([]linkClient, e.opts.concurrency)
	)
	defer func() {
		for _, w := range workers {
			if w.c != nil {
				w.c.close()
			}
		}
	}()
	ours := sideSpec{name: "ours", proc: srv.proc, profiled: true,
		prepare: func(ctx context.Context, n int) error {
			return parallel(ctx, n-tokens.len(), e.opts.concurrency, func(ctx context.Context) error {
				var out struct {
					CreateApproval struct{ Token string }
				}
				body := request(createMutation, map[string]any{"p": p.ID, "i": approvalInput(fmt.Sprintf("bench/execute/%d", seq.Add(1)))})
				if err := write.do(ctx, body, &out); err != nil {
					return err
				}
				tokens.add(out.CreateApproval.Token)
				return nil
			})
		},
		op: func(ctx context.Context, worker int) error {
			token, ok := tokens.take()
			if !ok {
				return errExhausted
			}
			w := &workers[worker]
			if w.c == nil || w.uses == approval.ExecuteBurst {
				if w.c != nil {
					w.c.close()
				}
				ip, err := addrs.ip()
				if err != nil {
					return err
				}
				*w = linkClient{c: anon.fromIP(ip)}
			}
			w.uses++
			var link struct {
				ApprovalLink struct{ Nonce string }
			}
			if err := w.c.do(ctx, request(linkQuery, map[string]any{"t": token}), &link); err != nil {
				return fmt.Errorf("approvalLink: %w", err)
			}
			var exec struct {
				ExecuteApproval struct{ Status string }
			}
			err := w.c.do(ctx, request(executeMutation, map[string]any{"t": token, "n": link.ApprovalLink.Nonce,
				"a": "approve", "pin": benchPIN}), &exec)
			if err != nil {
				return fmt.Errorf("executeApproval: %w", err)
			}
			if exec.ExecuteApproval.Status != "EXECUTED" {
				return fmt.Errorf("executeApproval answered %s", exec.ExecuteApproval.Status)
			}
			return nil
		}}
	baseline := sideSpec{name: "baseline",
		prepare: func(ctx context.Context, n int) error {
			return insertPending(ctx, db, p.ID, p.KeyID, n-hashes.len(), &seq, &hashes)
		},
		op: func(ctx context.Context, _ int) error {
			h, ok := hashes.take()
			if !ok {
				return errExhausted
			}
			return executeSQL(ctx, db, h)
		}}
	r.Notes = append(r.Notes, fmt.Sprintf("every loopback source address (127.0.x.y) opens and executes at most %d links, "+
		"so the per-IP link limits keep their production values", approval.ExecuteBurst),
		"the baseline checks no nonce and no PIN and writes the irreducible rows only: one read of the approval "+
			"with its project's name, then in one transaction the project's row (FOR KEY SHARE on PostgreSQL, "+
			"which a project delete makes necessary), the update, the key and the event")
	return e.compare(ctx, r, ours, baseline)
}

// parallel runs f n times on up to conc goroutines; the first error
// stops it and is returned.
func parallel(ctx context.Context, n, conc int, f func(ctx context.Context) error) error {
	var (
		left  atomic.Int64
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	left.Store(int64(n))
	for range min(conc, max(n, 0)) {
		wg.Go(func() {
			for left.Add(-1) >= 0 && ctx.Err() == nil {
				if err := f(ctx); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					left.Store(0)
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// insertPending inserts n pending approvals for the baseline, many to a
// transaction, and pools their token hashes.
func insertPending(ctx context.Context, db *direct, projectID, keyID string, n int, seq *atomic.Int64, into *pool[string]) error {
	const batch = 500
	for n > 0 {
		k := min(n, batch)
		hashes := make([]string, k)
		err := db.tx(ctx, func(q querier) error {
			now := store.Now()
			for i := range hashes {
				hashes[i] = auth.HashToken(auth.RandomToken(32))
				if _, err := baseApproval(ctx, db, q, now, projectID, keyID, fmt.Sprintf("bench/execute/%d", seq.Add(1)), hashes[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		into.add(hashes...)
		n -= k
	}
	return nil
}

// executeSQL does what opening and executing one link must do: read the
// approval of the token with its project's name, then in one transaction
// take the project's row (PostgreSQL), mark the approval executed by the
// link if it is still pending, set its key and record APPROVAL_EXECUTED.
func executeSQL(ctx context.Context, db *direct, tokenHash string) error {
	var id, projectID, keyPath, status, projectName string
	err := db.db().queryRow(ctx, db.stmt(sqlBaseLink), tokenHash).Scan(&id, &projectID, &keyPath, &status, &projectName)
	if err != nil {
		return fmt.Errorf("read approval: %w", err)
	}
	if status != "PENDING" {
		return fmt.Errorf("approval %s is %s", id, status)
	}
	now := store.Now()
	action, via := "approve", "LINK"
	return db.tx(ctx, func(q querier) error {
		if db.dialect == store.Postgres {
			var one int
			if err := q.queryRow(ctx, db.stmt(sqlBaseLockProject), projectID).Scan(&one); err != nil {
				return fmt.Errorf("lock project: %w", err)
			}
		}
		n, err := q.exec(ctx, db.stmt(sqlBaseExecute), action, now, id)
		if err != nil {
			return fmt.Errorf("execute: %w", err)
		}
		if n != 1 {
			return fmt.Errorf("approval %s was not pending", id)
		}
		if _, err := q.exec(ctx, db.stmt(sqlBaseSetKey), projectID, keyPath, "approved", now); err != nil {
			return fmt.Errorf("set key: %w", err)
		}
		_, err = baseEvent(ctx, db, q, now, "APPROVAL_EXECUTED", projectID, id, keyPath, &action, &via)
		return err
	})
}
