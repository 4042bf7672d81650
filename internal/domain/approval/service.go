package approval

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
	"github.com/ottr/backend/internal/platform/ratelimit"
	"github.com/ottr/backend/internal/platform/store"
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

// Callbacks validates and encrypts an approval's callback URL and keeps
// the project's callback secret (internal/domain/webhook implements it; this
// package cannot import that one, which renders approvals).
type Callbacks interface {
	// Seal validates raw and returns it encrypted with its key's version;
	// a BAD_USER_INPUT on callbackUrl when it is not acceptable.
	Seal(raw string) (ciphertext string, keyVersion int, err error)
	// EnsureSecret creates the project's callback secret in ctx's
	// transaction unless it has one.
	EnsureSecret(ctx context.Context, projectID string) error
}

// Service runs approvals and the key/value store.
type Service struct {
	store     *store.Store
	authz     *project.Authorizer
	recorder  *event.Recorder
	secrets   secrets
	publicURL string
	now       func() time.Time
	callbacks Callbacks
	openLimit *ratelimit.Limiter
	execLimit *ratelimit.Limiter
	optIn     optIn
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

// UseCallbacks sets what seals callback URLs, for a server that builds it
// after this service (it shares the keyring of the delivery channels).
func (s *Service) UseCallbacks(c Callbacks) { s.callbacks = c }

// The reads of one approval row, by the columns that identify one: every
// access to an approval starts with one of them.
var (
	byID        = rowQuery{"id", store.NewQuery(`SELECT ` + rowColumns + ` FROM approvals WHERE id = ?`)}
	byTokenHash = rowQuery{"token_hash", store.NewQuery(`SELECT ` + rowColumns + ` FROM approvals WHERE token_hash = ?`)}
	// linkByTokenHash reads the approval with its project's name (scanned
	// after the row), for the page a link opens.
	linkByTokenHash = rowQuery{"token_hash", store.NewQuery(`SELECT a.` + strings.ReplaceAll(rowColumns, ", ", ", a.") +
		`, p.name FROM approvals a JOIN projects p ON p.id = a.project_id WHERE a.token_hash = ?`)}
)

type rowQuery struct {
	column string
	q      store.Query
}

// load reads an approval row by a column that identifies one, and into
// extra the columns the query reads after the row's.
func (s *Service) load(ctx context.Context, by rowQuery, value string, extra ...any) (*row, error) {
	var r row
	err := s.store.QueryRow(ctx, by.q, value).Scan(append(r.fields(), extra...)...)
	if store.IsNotFound(err) {
		return nil, apperr.NotFound("approval")
	}
	if err != nil {
		return nil, fmt.Errorf("load approval by %s: %w", by.column, err)
	}
	return &r, nil
}

// eachRow runs the read of approval rows that db builds, taking the
// columns of fields (see columnsFor), and calls fn with each row in order.
// GORM builds the statement; the rows are scanned without its reflection.
func (s *Service) eachRow(ctx context.Context, db *gorm.DB, fields Fields, fn func(*row) error) error {
	sel := selectionOf(fields)
	q, args, err := store.Built(db.Select(sel.names), &[]row{})
	if err != nil {
		return fmt.Errorf("build a read of approvals: %w", err)
	}
	return s.store.Each(ctx, q, args, func(scan func(...any) error) error {
		r := row{missing: sel.missing}
		if err := scan(sel.dests(&r)...); err != nil {
			return err
		}
		return fn(&r)
	})
}

// Get returns an approval the caller may read. Another tenant's approval
// answers NOT_FOUND like a missing one.
func (s *Service) Get(ctx context.Context, id string) (*Approval, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return nil, err
	}
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

// GetMany returns, in one query, the approvals of ids the caller may read
// (for the approvals of a page of events); one that is missing or of
// another tenant is absent from the map.
func (s *Service) GetMany(ctx context.Context, ids []string) (map[string]*Approval, error) {
	out := make(map[string]*Approval, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []row
	if err := s.store.DB(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("load %d approvals: %w", len(ids), err)
	}
	readable := map[string]bool{}
	now := s.now()
	for i := range rows {
		ok, seen := readable[rows[i].ProjectID]
		if !seen {
			_, err := s.authz.Authorize(ctx, rows[i].ProjectID, project.Read)
			if err != nil && apperr.CodeOf(err) != apperr.CodeNotFound {
				return nil, err
			}
			ok = err == nil
			readable[rows[i].ProjectID] = ok
		}
		if !ok {
			continue
		}
		a, err := rows[i].approval(now)
		if err != nil {
			return nil, err
		}
		out[a.ID] = &a
	}
	return out, nil
}

// Filter narrows a list of approvals and chooses its order.
type Filter struct {
	Status    *Status
	KeyPrefix *string
	RefID     *string
	// CreatedAfter and CreatedBefore bound createdAt: at or after, and
	// strictly before.
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	// Sort is the order; "" is Newest.
	Sort Sort
	// Skip are the fields the caller will not use: the read leaves them
	// unfilled (Approval.Missing) and does not take their columns.
	Skip Fields
}

// Sort is the order of a list of approvals.
type Sort string

// The orders of a list of approvals. Each ends on the id, so that
// approvals created in the same microsecond keep one order.
const (
	Newest       Sort = "NEWEST"        // createdAt descending
	Oldest       Sort = "OLDEST"        // createdAt ascending
	ExpiringSoon Sort = "EXPIRING_SOON" // expiresAt ascending
)

func (s Sort) order() (page.Order, bool) {
	switch s {
	case Newest, "":
		return page.Order{{Name: "created_at", Desc: true}, {Name: "id", Desc: true}}, true
	case Oldest:
		return page.Order{{Name: "created_at"}, {Name: "id"}}, true
	case ExpiringSoon:
		return page.Order{{Name: "expires_at"}, {Name: "id"}}, true
	}
	return nil, false
}

// sortTime is the time the approval's place in order s depends on.
func (s Sort) sortTime(a Approval) time.Time {
	if s == ExpiringSoon {
		return a.ExpiresAt
	}
	return a.CreatedAt
}

// List returns a project's approvals, newest first unless f.Sort says
// otherwise. A cursor holds the order it was made for: used with another
// order it is BAD_USER_INPUT.
func (s *Service) List(ctx context.Context, projectID string, f Filter, args page.Args) (page.Page[Approval], error) {
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return page.Page[Approval]{}, err
	}
	var none page.Page[Approval]
	if _, err := s.authz.Authorize(ctx, projectID, project.Read); err != nil {
		return none, err
	}
	if f.Sort == "" {
		f.Sort = Newest
	}
	order, ok := f.Sort.order()
	if !ok {
		return none, apperr.Invalid("sort", "unknown sort %q", f.Sort)
	}
	w, err := args.Window(DefaultPageSize, 3)
	if err != nil {
		return none, err
	}
	after, err := approvalCursor("after", w.After, f.Sort)
	if err != nil {
		return none, err
	}
	before, err := approvalCursor("before", w.Before, f.Sort)
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
		if err := apperr.CheckTextLen("keyPrefix", *f.KeyPrefix, MaxPathLen); err != nil {
			return none, err
		}
		db = withPrefix(db, "key_path", *f.KeyPrefix)
	}
	if f.RefID != nil {
		if err := apperr.CheckTextLen("refId", *f.RefID, MaxRefIDLen); err != nil {
			return none, err
		}
		db = db.Where("ref_id = ?", *f.RefID)
	}
	if f.CreatedAfter != nil {
		db = db.Where("created_at >= ?", f.CreatedAfter.UTC())
	}
	if f.CreatedBefore != nil {
		db = db.Where("created_at < ?", f.CreatedBefore.UTC())
	}
	var total *int
	if w.Total {
		n, err := page.Count(db, &row{})
		if err != nil {
			return none, fmt.Errorf("count approvals of %s: %w", projectID, err)
		}
		total = &n
	}
	approvals := make([]Approval, 0, w.Size+1)
	err = s.eachRow(ctx, page.Fetch(db, w, order, after, before), AllFields&^f.Skip, func(r *row) error {
		a, err := r.approval(now)
		if err != nil {
			return err
		}
		approvals = append(approvals, a)
		return nil
	})
	if err != nil {
		return none, fmt.Errorf("list approvals of %s: %w", projectID, err)
	}
	p := page.Cut(approvals, w, func(a Approval) string {
		return page.Encode(string(f.Sort), strconv.FormatInt(f.Sort.sortTime(a).UnixMicro(), 10), a.ID)
	}, func(a Approval) Approval { return a })
	p.TotalCount = total
	return p, nil
}

// approvalCursor decodes the parts of a cursor of a list in order sort
// into the values of the order's columns.
func approvalCursor(field string, parts []string, sort Sort) ([]any, error) {
	if parts == nil {
		return nil, nil
	}
	micros, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || Sort(parts[0]) != sort {
		return nil, page.BadCursor(field)
	}
	return []any{time.UnixMicro(micros).UTC(), parts[2]}, nil
}

// withPrefix keeps the rows whose column starts with prefix. It compares
// the first characters: LIKE would need escaping of '_' and is
// case-insensitive on SQLite.
func withPrefix(db *gorm.DB, column, prefix string) *gorm.DB {
	return db.Where("substr("+column+", 1, ?) = ?", utf8.RuneCountInString(prefix), prefix)
}
