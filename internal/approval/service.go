package approval

import (
	"context"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/ottr/backend/internal/apperr"
	"github.com/ottr/backend/internal/event"
	"github.com/ottr/backend/internal/page"
	"github.com/ottr/backend/internal/project"
	"github.com/ottr/backend/internal/ratelimit"
	"github.com/ottr/backend/internal/store"
)

// Link rate limits, per client IP. A person opens a link a few times and
// submits it once, or a few times when mistyping a PIN; a script guessing
// tokens, or a page hammered from one address, runs into these at once.
const (
	OpenBurst    = 30              // link loads at once
	OpenEvery    = 2 * time.Second // then one more every 2 s (30 a minute)
	ExecuteBurst = 10              // submissions at once
	ExecuteEvery = 6 * time.Second // then one more every 6 s (10 a minute)
)

// DefaultPageSize is the number of approvals in a page when none is asked
// for.
const DefaultPageSize = 20

// Options is what the service needs.
type Options struct {
	Store    *store.Store
	Authz    *project.Authorizer
	Recorder *event.Recorder
	// Secret is the server secret the PIN and nonce keys are derived from.
	Secret []byte
	// PublicURL is the base of approval links.
	PublicURL string
	// Now is the clock for expiry and nonces; nil is the system clock.
	Now func() time.Time
}

// Service runs approvals and the key/value store.
type Service struct {
	store     *store.Store
	authz     *project.Authorizer
	recorder  *event.Recorder
	secrets   secrets
	publicURL string
	now       func() time.Time
	openLimit *ratelimit.Limiter
	execLimit *ratelimit.Limiter
}

// NewService returns the approval service.
func NewService(o Options) *Service {
	now := store.Now
	if o.Now != nil {
		clock := o.Now
		now = func() time.Time { return clock().UTC().Truncate(time.Microsecond) }
	}
	return &Service{
		store: o.Store, authz: o.Authz, recorder: o.Recorder, secrets: newSecrets(o.Secret),
		publicURL: o.PublicURL, now: now,
		openLimit: ratelimit.New(OpenEvery, OpenBurst),
		execLimit: ratelimit.New(ExecuteEvery, ExecuteBurst),
	}
}

// rowColumns are the columns every read of an approval takes, in the
// order of row's fields.
const rowColumns = `id, project_id, key_path, info, ref_id, actions, status, created_at, expires_at, token_hash, ` +
	`pin_hash, max_pin_attempts, failed_pin_attempts, executed_action, executed_at, invalidated_at, invalidation_reason`

// The reads of one approval row, by the columns that identify one: every
// access to an approval starts with one of them.
var (
	byID        = rowQuery{"id", store.NewQuery(`SELECT ` + rowColumns + ` FROM approvals WHERE id = ?`)}
	byTokenHash = rowQuery{"token_hash", store.NewQuery(`SELECT ` + rowColumns + ` FROM approvals WHERE token_hash = ?`)}
)

type rowQuery struct {
	column string
	q      store.Query
}

// load reads an approval row by a column that identifies one.
func (s *Service) load(ctx context.Context, by rowQuery, value string) (*row, error) {
	var r row
	err := s.store.QueryRow(ctx, by.q, value).Scan(&r.ID, &r.ProjectID, &r.KeyPath, &r.Info, &r.RefID,
		&r.Actions, &r.Status, &r.CreatedAt, &r.ExpiresAt, &r.TokenHash, &r.PinHash, &r.MaxPinAttempts,
		&r.FailedPinAttempts, &r.ExecutedAction, &r.ExecutedAt, &r.InvalidatedAt, &r.InvalidationReason)
	if store.IsNotFound(err) {
		return nil, apperr.NotFound("approval")
	}
	if err != nil {
		return nil, fmt.Errorf("load approval by %s: %w", by.column, err)
	}
	return &r, nil
}

// Get returns an approval the caller may read. Another tenant's approval
// answers NOT_FOUND like a missing one.
func (s *Service) Get(ctx context.Context, id string) (*Approval, error) {
	r, err := s.load(ctx, byID, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, r.ProjectID, project.Read); err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound("approval")
		}
		return nil, err
	}
	a, err := r.approval(s.now())
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// Filter narrows a list of approvals.
type Filter struct {
	Status    *Status
	KeyPrefix *string
	RefID     *string
}

// List returns a project's approvals, newest first.
func (s *Service) List(ctx context.Context, projectID string, f Filter, args page.Args) (page.Page[Approval], error) {
	var none page.Page[Approval]
	if _, err := s.authz.Authorize(ctx, projectID, project.Read); err != nil {
		return none, err
	}
	size, err := args.Size(DefaultPageSize)
	if err != nil {
		return none, err
	}
	now := s.now()
	db := s.store.DB(ctx).Where("project_id = ?", projectID)
	if f.Status != nil {
		// The same reading as row.status: a PENDING approval past its
		// expiry is EXPIRED.
		switch *f.Status {
		case Pending:
			db = db.Where("status = ? AND expires_at > ?", Pending, now)
		case Expired:
			db = db.Where("(status = ? OR (status = ? AND expires_at <= ?))", Expired, Pending, now)
		default:
			if !f.Status.Valid() {
				return none, apperr.Invalid("status", "unknown status %q", *f.Status)
			}
			db = db.Where("status = ?", *f.Status)
		}
	}
	if f.KeyPrefix != nil && *f.KeyPrefix != "" {
		if err := checkLength("keyPrefix", *f.KeyPrefix, MaxPathLen); err != nil {
			return none, err
		}
		db = withPrefix(db, "key_path", *f.KeyPrefix)
	}
	if f.RefID != nil {
		db = db.Where("ref_id = ?", *f.RefID)
	}
	if parts, ok, err := args.Cursor(2); err != nil {
		return none, err
	} else if ok {
		micros, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil {
			return none, page.ErrBadCursor
		}
		at := time.UnixMicro(micros).UTC()
		db = db.Where("(created_at < ? OR (created_at = ? AND id < ?))", at, at, parts[1])
	}
	var rows []row
	if err := db.Order("created_at DESC, id DESC").Limit(size + 1).Find(&rows).Error; err != nil {
		return none, fmt.Errorf("list approvals of %s: %w", projectID, err)
	}
	approvals := make([]Approval, len(rows))
	for i := range rows {
		if approvals[i], err = rows[i].approval(now); err != nil {
			return none, err
		}
	}
	return page.Cut(approvals, size, func(a Approval) string {
		return page.Encode(strconv.FormatInt(a.CreatedAt.UnixMicro(), 10), a.ID)
	}, func(a Approval) Approval { return a }), nil
}

// withPrefix keeps the rows whose column starts with prefix. It compares
// the first characters: LIKE would need escaping of '_' and is
// case-insensitive on SQLite.
func withPrefix(db *gorm.DB, column, prefix string) *gorm.DB {
	return db.Where("substr("+column+", 1, ?) = ?", utf8.RuneCountInString(prefix), prefix)
}
