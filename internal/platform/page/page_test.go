package page

import (
	"slices"
	"strconv"
	"testing"

	"github.com/ottr/backend/internal/platform/apperr"
)

func ptr[T any](v T) *T { return &v }

func TestWindowRefusesWhatItCannotMean(t *testing.T) {
	good := Encode("a", "b")
	for name, tc := range map[string]struct {
		args  Args
		field string // "" when valid
	}{
		"default":            {Args{}, ""},
		"first 0":            {Args{First: ptr(0)}, ""},
		"first 100":          {Args{First: ptr(100)}, ""},
		"first 101":          {Args{First: ptr(101)}, "first"},
		"first -1":           {Args{First: ptr(-1)}, "first"},
		"last 101":           {Args{Last: ptr(101)}, "last"},
		"first and last":     {Args{First: ptr(1), Last: ptr(1)}, "last"},
		"after and before":   {Args{After: &good, Before: &good}, ""},
		"after not base64":   {Args{After: ptr("!!")}, "after"},
		"before wrong parts": {Args{Before: ptr(Encode("a"))}, "before"},
		"empty cursor":       {Args{After: ptr("")}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.args.Window(20, 2)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			e, ok := apperr.As(err)
			if !ok || e.Code != apperr.CodeBadUserInput || e.Field != tc.field {
				t.Fatalf("got %v, want BAD_USER_INPUT on %s", err, tc.field)
			}
		})
	}
}

// Slice pages forward and backward over the same items, and the page
// info tells what lies beyond each page.
func TestSlicePagesBothWays(t *testing.T) {
	var items []int
	for i := range 7 {
		items = append(items, i)
	}
	key := func(i int) string { return strconv.Itoa(i) }
	window := func(a Args) Window {
		w, err := a.Window(100, 1)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	var forward []int
	args := Args{First: ptr(3)}
	for {
		p := Slice(items, window(args), key)
		for _, e := range p.Edges {
			forward = append(forward, e.Node)
		}
		if p.HasPreviousPage != (args.After != nil) {
			t.Fatalf("page after %v: hasPreviousPage %v", args.After, p.HasPreviousPage)
		}
		if !p.HasNextPage {
			break
		}
		end := p.EndCursor()
		args = Args{First: ptr(3), After: &end}
	}
	if !slices.Equal(forward, items) {
		t.Fatalf("forward %v", forward)
	}
	var backward []int
	args = Args{Last: ptr(3)}
	for {
		p := Slice(items, window(args), key)
		var nodes []int
		for _, e := range p.Edges {
			nodes = append(nodes, e.Node)
		}
		backward = append(nodes, backward...)
		if p.HasNextPage != (args.Before != nil) {
			t.Fatalf("page before %v: hasNextPage %v", args.Before, p.HasNextPage)
		}
		if !p.HasPreviousPage {
			break
		}
		start := p.StartCursor()
		args = Args{Last: ptr(3), Before: &start}
	}
	if !slices.Equal(backward, items) {
		t.Fatalf("backward %v", backward)
	}
}

func TestSeekConditions(t *testing.T) {
	o := Order{{Name: "created_at", Desc: true}, {Name: "id", Desc: true}}
	if got, want := seek(o, false), "((created_at < ?) OR (created_at = ? AND id < ?))"; got != want {
		t.Errorf("after: %s, want %s", got, want)
	}
	if got, want := seek(o, true), "((created_at > ?) OR (created_at = ? AND id > ?))"; got != want {
		t.Errorf("before: %s, want %s", got, want)
	}
	if got := seekArgs(o, []any{1, 2}); !slices.Equal(got, []any{1, 1, 2}) {
		t.Errorf("args %v", got)
	}
}

// A caller that shows only pageInfo's cursors gets those of the first and
// the last edge, the same as a caller that shows every edge's; the edges
// between get none.
func TestCutMakesEndCursorsOnlyWhenAsked(t *testing.T) {
	rows := []string{"a", "b", "c", "d"}
	cursor := func(r string) string { return Encode(r) }
	node := func(r string) string { return r }
	for _, backward := range []bool{false, true} {
		w, err := Args{First: ptr(3)}.Window(20, 1)
		if backward {
			w, err = Args{Last: ptr(3)}.Window(20, 1)
		}
		if err != nil {
			t.Fatal(err)
		}
		all := Cut(rows, w, cursor, node)
		w.EndCursorsOnly = true
		ends := Cut(rows, w, cursor, node)
		if ends.StartCursor() != all.StartCursor() || ends.EndCursor() != all.EndCursor() || ends.StartCursor() == "" || ends.EndCursor() == "" {
			t.Fatalf("backward %v: cursors %q…%q, want %q…%q", backward, ends.StartCursor(), ends.EndCursor(), all.StartCursor(), all.EndCursor())
		}
		if ends.Edges[1].Cursor != "" || all.Edges[1].Cursor == "" || ends.Edges[1].Node != all.Edges[1].Node {
			t.Fatalf("backward %v: middle edge %+v with end cursors only, %+v with all", backward, ends.Edges[1], all.Edges[1])
		}
	}
}
