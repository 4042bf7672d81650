// Package page implements cursor pagination for the lists of the API: the
// page size rule, opaque cursors, paging forward (first/after) and
// backward (last/before), the keyset conditions that fetch one page, and
// cutting a page out of rows fetched one past its end.
package page

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ottr/backend/internal/platform/apperr"
)

// MaxSize is the largest page a client may ask for.
const MaxSize = 100

// Args asks for one page: First items after the cursor After, or Last items
// before the cursor Before (nil or "": from the start, or from the end).
// Neither First nor Last: the list's default size, forward.
type Args struct {
	First  *int
	After  *string
	Last   *int
	Before *string
	// Total asks for the number of items in the whole list (with its
	// filters, without the cursors), which costs one more query.
	Total bool
	// EndCursorsOnly leaves out the cursors of the edges between the first
	// and the last, for a caller that shows only the page's start and end
	// cursors: a page of 50 otherwise encodes 48 cursors nobody reads.
	EndCursorsOnly bool
}

// Window is a validated Args: how many items, in which direction, between
// which cursors (each decoded into its parts, nil when absent).
type Window struct {
	Size int
	// Backward is true for last/before: the page is the Size items just
	// before Before (or at the end of the list).
	Backward bool
	After    []string
	Before   []string
	Total    bool
	// EndCursorsOnly is Args.EndCursorsOnly.
	EndCursorsOnly bool
}

// Window validates a and decodes its cursors, each of which must have n
// parts; def is the size when neither first nor last was given. Every
// mistake is BAD_USER_INPUT naming the argument.
func (a Args) Window(def, n int) (Window, error) {
	w := Window{Size: def, Total: a.Total, EndCursorsOnly: a.EndCursorsOnly}
	if a.First != nil && a.Last != nil {
		return w, apperr.Invalid("last", "give first or last, not both")
	}
	if a.First != nil {
		if v := *a.First; v < 0 || v > MaxSize {
			return w, apperr.Invalid("first", "first must be 0 to %d", MaxSize)
		}
		w.Size = *a.First
	}
	if a.Last != nil {
		if v := *a.Last; v < 0 || v > MaxSize {
			return w, apperr.Invalid("last", "last must be 0 to %d", MaxSize)
		}
		w.Size, w.Backward = *a.Last, true
	}
	var err error
	if w.After, err = decode("after", a.After, n); err != nil {
		return w, err
	}
	if w.Before, err = decode("before", a.Before, n); err != nil {
		return w, err
	}
	return w, nil
}

// BadCursor answers a cursor, in argument field, that no page of the list
// gave out.
func BadCursor(field string) error {
	return apperr.Invalid(field, "%s is not a cursor of this list", field)
}

// ErrBadCursor is BadCursor("after"), for the lists that page forward only.
var ErrBadCursor = BadCursor("after")

func decode(field string, cursor *string, n int) ([]string, error) {
	if cursor == nil || *cursor == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(*cursor)
	if err != nil || !utf8.Valid(raw) {
		return nil, BadCursor(field)
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != n {
		return nil, BadCursor(field)
	}
	return parts, nil
}

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
	Edges []Edge[T]
	// HasNextPage: items follow the page. When paging backward it is true
	// when before was given (the item it points at follows).
	HasNextPage bool
	// HasPreviousPage: items precede the page. When paging forward it is
	// true when after was given (the item it points at precedes).
	HasPreviousPage bool
	// TotalCount is the size of the whole list, when Args.Total asked.
	TotalCount *int
}

// StartCursor is the cursor of the first item, "" for an empty page.
func (p Page[T]) StartCursor() string {
	if len(p.Edges) == 0 {
		return ""
	}
	return p.Edges[0].Cursor
}

// EndCursor is the cursor of the last item, "" for an empty page.
func (p Page[T]) EndCursor() string {
	if len(p.Edges) == 0 {
		return ""
	}
	return p.Edges[len(p.Edges)-1].Cursor
}

// Cut makes the page of w out of rows, which were fetched with a limit of
// w.Size+1 (a further row tells that more items exist), in list order when
// paging forward and in reverse list order when paging backward. With
// w.EndCursorsOnly, only the first and the last edge have a cursor.
func Cut[R, T any](rows []R, w Window, cursor func(R) string, node func(R) T) Page[T] {
	more := len(rows) > w.Size
	if more {
		rows = rows[:w.Size]
	}
	p := Page[T]{HasNextPage: more, HasPreviousPage: w.After != nil}
	if w.Backward {
		p.HasNextPage, p.HasPreviousPage = w.Before != nil, more
	}
	p.Edges = make([]Edge[T], len(rows))
	for i, r := range rows {
		at := i
		if w.Backward {
			at = len(rows) - 1 - i
		}
		p.Edges[at] = Edge[T]{Node: node(r)}
		if !w.EndCursorsOnly || at == 0 || at == len(rows)-1 {
			p.Edges[at].Cursor = cursor(r)
		}
	}
	return p
}

// Slice pages a whole list held in memory, for the short lists of a
// project (members, API keys, Slack channels) and of a caller (projects).
// key gives each item a unique string that sorts in list order; the
// cursors are those keys, so a removed item never shifts the next page.
func Slice[T any](items []T, w Window, key func(T) string) Page[T] {
	from, to := 0, len(items)
	if w.After != nil {
		for from < to && key(items[from]) <= w.After[0] {
			from++
		}
	}
	if w.Before != nil {
		for to > from && key(items[to-1]) >= w.Before[0] {
			to--
		}
	}
	var rows []T
	if w.Backward {
		for i := to - 1; i >= from && len(rows) <= w.Size; i-- {
			rows = append(rows, items[i])
		}
	} else {
		for i := from; i < to && len(rows) <= w.Size; i++ {
			rows = append(rows, items[i])
		}
	}
	p := Cut(rows, w, func(t T) string { return Encode(key(t)) }, func(t T) T { return t })
	// The whole list is at hand: say exactly what lies beyond the window.
	if w.Backward {
		p.HasNextPage = to < len(items)
	} else {
		p.HasPreviousPage = from > 0
	}
	if w.Total {
		n := len(items)
		p.TotalCount = &n
	}
	return p
}

// TimeKey is a Slice key that sorts by t, then by id, ascending.
func TimeKey(t time.Time, id string) string {
	return fmt.Sprintf("%020d:%s", t.UnixMicro()-math.MinInt64/2, id)
}

// DescTimeKey is a Slice key that sorts by t, then by id, both descending.
func DescTimeKey(t time.Time, id string) string {
	inverted := []byte(id)
	for i, b := range inverted {
		inverted[i] = 0xff - b
	}
	return fmt.Sprintf("%020d:%s", math.MaxInt64/2-t.UnixMicro(), hex.EncodeToString(inverted))
}
