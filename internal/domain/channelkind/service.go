package channelkind

import (
	"context"
	"fmt"
	"time"

	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
	"github.com/ottr/backend/internal/platform/ratelimit"
	"github.com/ottr/backend/internal/platform/store"
)

// Kind describes one kind of channel to the Service: its names in errors,
// its columns and its URL rules.
type Kind struct {
	// Noun names a row in errors: "channel", "webhook endpoint".
	Noun string
	// NameNoun names a row's name in the rule it breaks: "channel name".
	NameNoun string
	// URLField is the input field that carries the URL: "webhookUrl".
	URLField string
	// URLColumn and KeyVersionColumn hold the encrypted URL and its key's
	// version.
	URLColumn, KeyVersionColumn string
	// Deliveries is the table of the kind's deliveries, whose channel_id
	// names the row; a removed row takes its delivery log along.
	Deliveries string
	// ResetOnEnable are the columns, besides disabled_reason, that
	// enabling a row clears, with the values they take.
	ResetOnEnable map[string]any
	// CheckURL validates a URL, already trimmed, under the kind's rules:
	// nil, a BAD_USER_INPUT that never repeats the URL, or another error.
	CheckURL func(raw string) error
	// Mask returns the displayed form of a URL.
	Mask func(url string) string
}

// Sealer encrypts values at rest with versioned keys (slack.Keyring).
type Sealer interface {
	Encrypt(plaintext string) (ciphertext string, version int, err error)
	Decrypt(ciphertext string, version int) (string, error)
}

// Service manages a project's rows of one kind. Every member reads them;
// OWNER and ADMIN members and WRITE keys change them.
type Service[R any, P Row[R]] struct {
	store *store.Store
	authz *project.Authorizer
	keys  Sealer
	kind  Kind
	tests *ratelimit.Limiter // test messages per row
}

// New returns the service of one kind.
func New[R any, P Row[R]](st *store.Store, authz *project.Authorizer, keys Sealer, kind Kind) *Service[R, P] {
	// Test messages post to someone's receiver on demand: enough to check
	// a URL a few times in a row, not enough to spam it with.
	return &Service[R, P]{store: st, authz: authz, keys: keys, kind: kind, tests: ratelimit.New(10*time.Second, 5)}
}

// List returns a project's rows, oldest first.
func (s *Service[R, P]) List(ctx context.Context, projectID string) ([]R, error) {
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, projectID, project.ReadSettings); err != nil {
		return nil, err
	}
	var out []R
	if err := s.store.DB(ctx).Where("project_id = ?", projectID).Order("created_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list %ss of project %s: %w", s.kind.Noun, projectID, err)
	}
	for i := range out {
		if err := s.Mask(&out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListPage is List, one page at a time.
func (s *Service[R, P]) ListPage(ctx context.Context, projectID string, args page.Args) (page.Page[R], error) {
	w, err := args.Window(page.MaxSize, 1)
	var all []R
	if err == nil {
		all, err = s.List(ctx, projectID)
	}
	if err != nil {
		return page.Page[R]{}, err
	}
	return page.Slice(all, w, pageKey[R, P]), nil
}

// pageKey orders rows as List does: oldest first.
func pageKey[R any, P Row[R]](r R) string {
	c := P(&r).common()
	return page.TimeKey(c.CreatedAt, c.ID)
}

// Get loads a row and checks that the caller may take action in its
// project. A missing row and another tenant's both answer NOT_FOUND.
func (s *Service[R, P]) Get(ctx context.Context, id string, action project.Action) (P, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return nil, err
	}
	row, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, row.common().ProjectID, action); err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound(s.kind.Noun)
		}
		return nil, err
	}
	return row, s.Mask(row)
}

// URL decrypts a row's URL for posting. Never log or show it.
func (s *Service[R, P]) URL(row P) (string, error) {
	ciphertext, version := row.SealedURL()
	url, err := s.keys.Decrypt(*ciphertext, *version)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", s.kind.Noun, row.common().ID, err)
	}
	return url, nil
}

// Mask fills in the displayed form of the row's URL.
func (s *Service[R, P]) Mask(row P) error {
	url, err := s.URL(row)
	if err != nil {
		return err
	}
	row.common().Masked = s.kind.Mask(url)
	return nil
}

// load reads a row; NOT_FOUND when there is none.
func (s *Service[R, P]) load(ctx context.Context, id string) (P, error) {
	row := P(new(R))
	if err := s.store.DB(ctx).Where("id = ?", id).Take(row).Error; err != nil {
		if store.IsNotFound(err) {
			return nil, apperr.NotFound(s.kind.Noun)
		}
		return nil, fmt.Errorf("load %s %s: %w", s.kind.Noun, id, err)
	}
	return row, nil
}

func (s *Service[R, P]) writeError(err error, name string) error {
	if store.IsDuplicate(err) {
		return apperr.Conflict("a %s named %q already exists in this project", s.kind.Noun, name)
	}
	return fmt.Errorf("save %s: %w", s.kind.Noun, err)
}
