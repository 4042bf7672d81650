package approval

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/ratelimit"
	"github.com/ottr/backend/internal/platform/store"
)

// Opening and executing a link are the access attempts of DESIGN §2. They
// need no login: the token is the credential. Every state change is a
// conditional UPDATE whose rows affected decide who made the transition, so
// the events of expiry, locking and execution are recorded exactly once
// however many requests race.

// Link is what the person who opens an approval link sees.
type Link struct {
	ProjectName       string
	KeyPath           string
	Info              *string
	Actions           []Action
	Status            Status
	ExpiresAt         time.Time
	PinRequired       bool
	AttemptsRemaining int
	// Nonce must be sent back with Execute: the page has to be loaded first.
	Nonce string
}

// Execution is the outcome of an Execute that changed something: EXECUTED
// with the action, or, after a wrong PIN, PENDING or LOCKED with the
// attempts left.
type Execution struct {
	Status            Status
	Action            *Action
	AttemptsRemaining int
	ExecutedAt        *time.Time // as stored, when Status is EXECUTED
	Comment           *string    // the decider's comment as stored, when Status is EXECUTED
}

// Open is an access attempt that shows a link and issues its nonce.
func (s *Service) Open(ctx context.Context, token string) (*Link, error) {
	if err := apperr.CheckTexts("token", token); err != nil {
		return nil, err
	}
	if err := limit(ctx, s.openLimit); err != nil {
		return nil, err
	}
	now := s.now()
	var projectName string
	r, err := s.access(ctx, linkByTokenHash, token, now, &projectName)
	if err != nil {
		return nil, err
	}
	if !r.AllowLink {
		return nil, errLinkNotAllowed
	}
	actions, err := r.actions()
	if err != nil {
		return nil, err
	}
	return &Link{
		ProjectName: projectName, KeyPath: r.KeyPath, Info: r.Info, Actions: actions, Status: r.Status,
		ExpiresAt: r.ExpiresAt, PinRequired: r.PinHash != nil, AttemptsRemaining: r.attemptsRemaining(),
		Nonce: s.secrets.nonce(r.TokenHash, r.ID, now),
	}, nil
}

// Execute is an access attempt that picks an action. The checks run in the
// order of DESIGN §2: token, state, expiry, nonce, action, PIN. A wrong or
// missing PIN is not an error: it is counted, recorded, and answered with
// the attempts left (LOCKED at the last one).
func (s *Service) Execute(ctx context.Context, token, nonce, actionKey, pin string) (*Execution, error) {
	return s.ExecuteCommented(ctx, token, nonce, actionKey, pin, nil)
}

// ExecuteCommented is Execute with the decider's optional comment, stored
// with the decision.
func (s *Service) ExecuteCommented(ctx context.Context, token, nonce, actionKey, pin string, comment *string) (*Execution, error) {
	if err := apperr.CheckTexts("token", token, "nonce", nonce, "action", actionKey, "pin", pin); err != nil {
		return nil, err
	}
	comment, err := checkComment(comment)
	if err != nil {
		return nil, err
	}
	if err := limit(ctx, s.execLimit); err != nil {
		return nil, err
	}
	now := s.now()
	if x, ok, err := s.executeByNonce(ctx, token, nonce, actionKey, pin, comment, now); ok || err != nil {
		return x, err
	}
	// Every refusal, and a nonce that names no approval, takes this path.
	r, err := s.access(ctx, byTokenHash, token, now)
	if err != nil {
		return nil, err
	}
	if !r.AllowLink {
		return nil, errLinkNotAllowed
	}
	if _, err := s.secrets.checkNonce(nonce, r.TokenHash, now); err != nil {
		return nil, err
	}
	actions, err := r.actions()
	if err != nil {
		return nil, err
	}
	action, ok := findAction(actions, actionKey)
	if !ok {
		return nil, apperr.Invalid("action", "%q is not one of this approval's actions", actionKey)
	}
	if r.PinHash != nil && !s.secrets.checkPIN(*r.PinHash, r.ID, pin) {
		return s.failPIN(ctx, r, now)
	}
	return s.execute(ctx, r, action, Decider{Via: ViaLink}, comment, now)
}

func limit(ctx context.Context, l *ratelimit.Limiter) error {
	if ok, wait := l.Allow(ratelimit.ClientIP(ctx)); !ok {
		return apperr.RateLimited(wait)
	}
	return nil
}

func (r *row) attemptsRemaining() int { return max(r.MaxPinAttempts-r.FailedPinAttempts, 0) }

// access finds the approval of a token with by (scanning into extra what
// by reads after the row) and lets it through only while it is PENDING
// and in time; an approval found past its expiry becomes EXPIRED here.
func (s *Service) access(ctx context.Context, by rowQuery, token string, now time.Time, extra ...any) (*row, error) {
	r, err := s.load(ctx, by, auth.HashToken(token), extra...)
	if apperr.CodeOf(err) == apperr.CodeNotFound {
		return nil, apperr.NotFound("approval link")
	}
	if err != nil {
		return nil, err
	}
	if err := s.checkOpen(ctx, r, now); err != nil {
		return nil, err
	}
	return r, nil
}

// checkOpen refuses an approval that is no longer pending, and expires one
// whose time has passed.
func (s *Service) checkOpen(ctx context.Context, r *row, now time.Time) error {
	if r.Status != Pending {
		return closedError(r.Status)
	}
	if r.expiredAt(now) {
		return s.expire(ctx, r, now)
	}
	return nil
}

// expire makes the PENDING→EXPIRED transition and records APPROVAL_EXPIRED,
// only for the request whose update made it. It always answers CONFLICT.
func (s *Service) expire(ctx context.Context, r *row, now time.Time) error {
	err := s.store.WithTx(ctx, func(ctx context.Context) error {
		if err := s.lockLink(ctx, r); err != nil {
			return err
		}
		res := s.store.DB(ctx).Exec("UPDATE approvals SET status = ? WHERE id = ? AND status = ? AND expires_at <= ?",
			Expired, r.ID, Pending, now)
		if res.Error != nil {
			return fmt.Errorf("expire approval %s: %w", r.ID, res.Error)
		}
		if res.RowsAffected == 0 {
			return errNotPending
		}
		return s.recorder.Record(ctx, r.event(event.ApprovalExpired, now))
	})
	if errors.Is(err, errNotPending) {
		// Another request expired or executed it first.
		current, err := s.load(ctx, byID, r.ID)
		if err != nil {
			return err
		}
		return closedError(current.Status)
	}
	if err != nil {
		return err
	}
	return closedError(Expired)
}

// lockLink takes the approval's project row before an access attempt
// changes the approval (the lock order of internal/domain/project/lock.go). A
// link whose project was just deleted answers like a token never issued.
func (s *Service) lockLink(ctx context.Context, r *row) error {
	err := project.LockForWrite(ctx, s.store, r.ProjectID)
	if apperr.CodeOf(err) == apperr.CodeNotFound {
		return apperr.NotFound("approval link")
	}
	return err
}

// refuse answers a request whose conditional update found that the
// approval changed since it was read: it reports the state it is in now.
func (s *Service) refuse(ctx context.Context, id string, now time.Time) error {
	r, err := s.load(ctx, byID, id)
	if err != nil {
		return err
	}
	if err := s.checkOpen(ctx, r, now); err != nil {
		return err
	}
	return errNotPending
}

// execute makes the PENDING→EXECUTED transition, sets the key to the
// action's value and records APPROVAL_EXECUTED, in one transaction.
func (s *Service) execute(ctx context.Context, r *row, action Action, by Decider, comment *string, now time.Time) (*Execution, error) {
	if s.store.OneStatement(ctx) {
		return s.executeInOne(ctx, r, action, by, comment, now)
	}
	err := s.store.WithTx(ctx, func(ctx context.Context) error {
		if err := s.lockLink(ctx, r); err != nil {
			return err
		}
		res := s.store.DB(ctx).Exec(`UPDATE approvals SET `+executedSet+` WHERE id = ? AND `+executable,
			slices.Concat(executedSetArgs(action.Key, by, comment, now), []any{r.ID}, executableArgs(now))...)
		if res.Error != nil {
			return fmt.Errorf("execute approval %s: %w", r.ID, res.Error)
		}
		if res.RowsAffected == 0 {
			return errNotPending
		}
		value := action.Value
		if err := s.writeKey(ctx, KeyValue{ProjectID: r.ProjectID, Path: r.KeyPath, Value: &value, UpdatedAt: now}, true); err != nil {
			return err
		}
		return s.recorder.Record(ctx, r.executedEvent(action, by, comment, now))
	})
	if errors.Is(err, errNotPending) {
		return nil, s.refuse(ctx, r.ID, now)
	}
	if err != nil {
		return nil, err
	}
	return r.executed(action, comment, now), nil
}

// The parts of an execution's UPDATE that every path shares: the columns
// it sets (executedSetArgs) and the state it requires (executableArgs).
const (
	executedSet = `status = ?, executed_action = ?, executed_at = ?, decided_via = ?, decided_by_user_id = ?, ` +
		`decided_by_slack_user_id = ?, decided_by_slack_user_name = ?, decision_comment = ?`
	executable = `status = ? AND expires_at > ? AND failed_pin_attempts < max_pin_attempts`
)

func executedSetArgs(actionKey string, by Decider, comment *string, now time.Time) []any {
	return []any{Executed, actionKey, now, string(by.Via), by.UserID, by.SlackUserID, by.SlackUserName, comment}
}

func executableArgs(now time.Time) []any { return []any{Pending, now} }

// executedWrites are the key's upsert and the event's insert of a
// one-statement execution, made only from the row that its UPDATE, u,
// returns (project_id, key_path, and value: the chosen action's), with
// the columns Record writes (the database fills in id and xid).
// executedWriteArgs are their arguments.
const executedWrites = `k AS (INSERT INTO key_values (` + executeKeyColumns + `) SELECT project_id, key_path, value, ? FROM u
		ON CONFLICT (project_id, path) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at),
	e AS (INSERT INTO events (` + executeEventColumns + `)
		SELECT ?, ?, project_id, ?, key_path, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM u
		RETURNING id, xid)`

func executedWriteArgs(now time.Time, ev *event.Event) []any {
	return []any{now,
		ev.Type, ev.OccurredAt, ev.ApprovalID, ev.Action, ev.Attempts, ev.MaxAttempts, ev.Reason,
		ev.DecidedVia, ev.DecidedByUserID, ev.DecidedBySlackUserID, ev.DecidedBySlackUserName, ev.Comment}
}

// The columns executedWrites writes: every column of key_values, and
// every column of events but the two the database fills in (id, xid).
// TestExecuteInOneWritesEveryColumn keeps them in step with the tables.
const (
	executeKeyColumns   = `project_id, path, value, updated_at`
	executeEventColumns = `type, occurred_at, project_id, approval_id, key_path, action, attempts, max_attempts, reason, ` +
		`decided_via, decided_by_user_id, decided_by_slack_user_id, decided_by_slack_user_name, comment`
)

// executeOne is execute's transaction as one statement, in one round trip:
// the project's row FOR KEY SHARE first (the lock order of
// internal/domain/project/lock.go), then the same conditional UPDATE, and
// only from the row it updated the key's upsert and the event's insert. It
// answers how many projects it locked (0: the project is gone, nothing
// written) and the event's id and xid (NULL: the update matched no row,
// nothing written).
var executeOne = store.NewQuery(`WITH p AS (SELECT id FROM projects WHERE id = ?` + " FOR " + store.LockKeyShare + `),
	u AS (UPDATE approvals SET ` + executedSet + `
		WHERE id = ? AND ` + executable + ` AND EXISTS (SELECT 1 FROM p)
		RETURNING project_id, key_path, CAST(? AS TEXT) AS value),
	` + executedWrites + `
	SELECT (SELECT count(*) FROM p), (SELECT id FROM e), (SELECT xid FROM e)`)

// executeInOne is execute on a database that writes it in one statement
// (Store.OneStatement): the statement commits on its own, and the event's
// after-commit functions run once it has.
func (s *Service) executeInOne(ctx context.Context, r *row, action Action, by Decider, comment *string, now time.Time) (*Execution, error) {
	ev := r.executedEvent(action, by, comment, now)
	args := slices.Concat([]any{r.ProjectID}, executedSetArgs(action.Key, by, comment, now), []any{r.ID}, executableArgs(now),
		[]any{action.Value}, executedWriteArgs(now, ev))
	var (
		locked  int
		id, xid *int64
	)
	if err := s.store.QueryRow(ctx, executeOne, args...).Scan(&locked, &id, &xid); err != nil {
		return nil, fmt.Errorf("execute approval %s: %w", r.ID, err)
	}
	if locked == 0 {
		return nil, apperr.NotFound("approval link")
	}
	if id == nil || xid == nil {
		return nil, s.refuse(ctx, r.ID, now)
	}
	ev.ID, ev.Xid = *id, *xid
	s.recorder.Committed(*ev)
	return r.executed(action, comment, now), nil
}

// executeByLink is a link's execution in one statement, for a nonce that
// names the approval: the project's row FOR KEY SHARE first, as in
// executeOne, then an UPDATE that checks in its condition what
// ExecuteCommented checks after reading the row (the token, the link
// allowed, the state and expiry, the action, the PIN's hash through its
// digest, pinDigest) and takes the key's value from the chosen action as
// stored. It returns what the event and the answer need, and no row when
// it wrote nothing.
var executeByLink = store.NewQuery(`WITH p AS (SELECT id FROM projects
		WHERE id = (SELECT project_id FROM approvals WHERE id = ?)` + " FOR " + store.LockKeyShare + `),
	u AS (UPDATE approvals SET ` + executedSet + `
		WHERE id = ? AND token_hash = ? AND allow_link AND (pin_hash IS NULL OR sha256(convert_to(pin_hash, 'UTF8')) = ?)
			AND EXISTS (SELECT 1 FROM jsonb_array_elements(approvals.actions::jsonb) a WHERE a->>'key' = ?)
			AND ` + executable + ` AND EXISTS (SELECT 1 FROM p)
		RETURNING project_id, key_path, created_at, actions, failed_pin_attempts, max_pin_attempts,
			(SELECT a->>'value' FROM jsonb_array_elements(approvals.actions::jsonb) a
				WHERE a->>'key' = approvals.executed_action LIMIT 1) AS value),
	` + executedWrites + `
	SELECT u.project_id, u.key_path, u.created_at, u.actions, u.failed_pin_attempts, u.max_pin_attempts, e.id, e.xid
	FROM u CROSS JOIN e`)

// executeByNonce is the success path of a link's execution in one round
// trip (executeByLink), on a database that writes in one statement: a
// nonce that verifies names the approval, so the PIN's hash is known
// before anything is read. ok is false when nothing was written, whatever
// the reason (a nonce that does not verify or names no approval, a wrong
// or missing PIN, an unknown action, an approval no longer pending or
// past its time, a project gone): the caller then reads the approval and
// answers as DESIGN §2 orders, counting a wrong PIN or expiring it there.
func (s *Service) executeByNonce(ctx context.Context, token, nonce, actionKey, pin string, comment *string, now time.Time) (x *Execution, ok bool, err error) {
	if !s.store.OneStatement(ctx) {
		return nil, false, nil
	}
	tokenHash := auth.HashToken(token)
	id, err := s.secrets.checkNonce(nonce, tokenHash, now)
	if err != nil || id == "" {
		return nil, false, nil
	}
	by := Decider{Via: ViaLink}
	chosen := Action{Key: actionKey} // all the event takes of it
	r := &row{ID: id}                // the rest comes back from the statement
	// The event's arguments take nothing of r but its id: the statement
	// writes the project and key path from the row it updated.
	args := slices.Concat([]any{id}, executedSetArgs(actionKey, by, comment, now),
		[]any{id, tokenHash, pinDigest(s.secrets.hashPIN(id, pin)), actionKey}, executableArgs(now),
		executedWriteArgs(now, r.executedEvent(chosen, by, comment, now)))
	var evID, xid int64
	err = s.store.QueryRow(ctx, executeByLink, args...).Scan(&r.ProjectID, &r.KeyPath, &r.CreatedAt, &r.Actions,
		&r.FailedPinAttempts, &r.MaxPinAttempts, &evID, &xid)
	if store.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("execute approval %s by its link: %w", id, err)
	}
	ev := r.executedEvent(chosen, by, comment, now)
	ev.ID, ev.Xid = evID, xid
	s.recorder.Committed(*ev)
	actions, err := r.actions()
	if err != nil {
		return nil, true, err
	}
	action, found := findAction(actions, actionKey)
	if !found {
		return nil, true, fmt.Errorf("executed approval %s: action %q is not among its decoded actions", id, actionKey)
	}
	return r.executed(action, comment, now), true, nil
}

// executed is the answer to an execution of r that was written at now.
func (r *row) executed(action Action, comment *string, now time.Time) *Execution {
	return &Execution{Status: Executed, Action: &action, AttemptsRemaining: r.attemptsRemaining(), ExecutedAt: &now, Comment: comment}
}

// executedEvent is the APPROVAL_EXECUTED event of an execution, on either
// path of execute.
func (r *row) executedEvent(action Action, by Decider, comment *string, now time.Time) *event.Event {
	via := string(by.Via)
	ev := r.event(event.ApprovalExecuted, now)
	ev.Action = &action.Key
	ev.DecidedVia, ev.DecidedByUserID, ev.Comment = &via, by.UserID, comment
	ev.DecidedBySlackUserID, ev.DecidedBySlackUserName = by.SlackUserID, by.SlackUserName
	return ev
}

// failPIN counts a failed PIN attempt and records PIN_FAILED; the attempt
// that reaches the maximum also locks the approval and records
// TOKEN_LOCKED. One UPDATE both counts and locks, so concurrent wrong PINs
// stop at exactly the maximum and exactly one of them locks.
func (s *Service) failPIN(ctx context.Context, r *row, now time.Time) (*Execution, error) {
	var counted []struct {
		FailedPinAttempts int
		Status            Status
	}
	err := s.store.WithTx(ctx, func(ctx context.Context) error {
		if err := s.lockLink(ctx, r); err != nil {
			return err
		}
		err := s.store.DB(ctx).Raw(`UPDATE approvals SET failed_pin_attempts = failed_pin_attempts + 1,
				status = CASE WHEN failed_pin_attempts + 1 >= max_pin_attempts THEN '`+string(Locked)+`' ELSE status END
			WHERE id = ? AND status = ? AND expires_at > ? AND failed_pin_attempts < max_pin_attempts
			RETURNING failed_pin_attempts, status`, r.ID, Pending, now).Scan(&counted).Error
		if err != nil {
			return fmt.Errorf("count failed PIN of approval %s: %w", r.ID, err)
		}
		if len(counted) == 0 {
			return errNotPending
		}
		attempts, maxAttempts := counted[0].FailedPinAttempts, r.MaxPinAttempts
		ev := r.event(event.PinFailed, now)
		ev.Attempts, ev.MaxAttempts = &attempts, &maxAttempts
		if err := s.recorder.Record(ctx, ev); err != nil {
			return err
		}
		if counted[0].Status != Locked {
			return nil
		}
		reason := event.LockedReason
		locked := r.event(event.TokenLocked, now)
		locked.Reason = &reason
		return s.recorder.Record(ctx, locked)
	})
	if errors.Is(err, errNotPending) {
		return nil, s.refuse(ctx, r.ID, now)
	}
	if err != nil {
		return nil, err
	}
	return &Execution{Status: counted[0].Status, AttemptsRemaining: max(r.MaxPinAttempts-counted[0].FailedPinAttempts, 0)}, nil
}
