// Package page implements cursor pagination for the lists of the API: the
// page size rule, opaque cursors, and cutting a page out of rows fetched
// one past its end.
package page

import (
	"encoding/base64"
	"strings"

	"github.com/ottr/backend/internal/apperr"
)

// MaxSize is the largest page a client may ask for.
const MaxSize = 100

// Args asks for one page: First items (nil: the list's default) after the
// cursor After (nil or "": from the start).
type Args struct {
	First *int
	After *string
}

// Size is the page size asked for, or def when none was.
func (a Args) Size(def int) (int, error) {
	if a.First == nil {
		return def, nil
	}
	if n := *a.First; n < 0 || n > MaxSize {
		return 0, apperr.Invalid("first", "first must be 0 to %d", MaxSize)
	}
	return *a.First, nil
}

// Cursor decodes the After cursor into its n parts; ok is false when there
// is none. A cursor this package did not make is BAD_USER_INPUT.
func (a Args) Cursor(n int) (parts []string, ok bool, err error) {
	if a.After == nil || *a.After == "" {
		return nil, false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(*a.After)
	if err != nil {
		return nil, false, ErrBadCursor
	}
	parts = strings.Split(string(raw), "\x00")
	if len(parts) != n {
		return nil, false, ErrBadCursor
	}
	return parts, true, nil
}

// ErrBadCursor answers a cursor that no page of the list gave out.
var ErrBadCursor = apperr.Invalid("after", "after is not a cursor of this list")

// Encode makes an opaque cursor of parts (which must not contain NUL).
func Encode(parts ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, "\x00")))
}

// Edge is one item of a page with the cursor that points at it.
type Edge[T any] struct {
	Cursor string
	Node   T
}

// Page is one page of a list.
type Page[T any] struct {
	Edges       []Edge[T]
	HasNextPage bool
}

// EndCursor is the cursor of the last item, "" for an empty page.
func (p Page[T]) EndCursor() string {
	if len(p.Edges) == 0 {
		return ""
	}
	return p.Edges[len(p.Edges)-1].Cursor
}

// Cut makes a page of size items out of rows, which were fetched with a
// limit of size+1 so that a further row tells that a next page exists.
func Cut[R, T any](rows []R, size int, cursor func(R) string, node func(R) T) Page[T] {
	p := Page[T]{HasNextPage: len(rows) > size}
	if p.HasNextPage {
		rows = rows[:size]
	}
	p.Edges = make([]Edge[T], len(rows))
	for i, r := range rows {
		p.Edges[i] = Edge[T]{Cursor: cursor(r), Node: node(r)}
	}
	return p
}
