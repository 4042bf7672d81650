package page

import (
	"strings"

	"gorm.io/gorm"
)

// Column is one column of a list's order.
type Column struct {
	Name string
	Desc bool
}

// Order is a list's order: its columns, the last of which is unique, so
// that every item has one position and a cursor (the item's values of
// these columns) points at exactly one place.
type Order []Column

// Fetch adds to db what reads the rows of w: the keyset conditions of its
// cursors (after and before are the cursors' values, one per column of o,
// nil when absent), the order (reversed when paging backward) and a limit of
// one row past the page.
func Fetch(db *gorm.DB, w Window, o Order, after, before []any) *gorm.DB {
	if after != nil {
		db = db.Where(seek(o, false), seekArgs(o, after)...)
	}
	if before != nil {
		db = db.Where(seek(o, true), seekArgs(o, before)...)
	}
	terms := make([]string, len(o))
	for i, c := range o {
		desc := c.Desc != w.Backward
		terms[i] = c.Name
		if desc {
			terms[i] += " DESC"
		}
	}
	return db.Order(strings.Join(terms, ", ")).Limit(w.Size + 1)
}

// Count reads the number of rows of model that db selects, for totalCount:
// db must hold the list's filters but not its cursors.
func Count(db *gorm.DB, model any) (int, error) {
	var n int64
	if err := db.Session(&gorm.Session{}).Model(model).Count(&n).Error; err != nil {
		return 0, err
	}
	return int(n), nil
}

// seek is the condition "comes after the cursor in list order" (or
// "before", when back): (c1 > ?) OR (c1 = ? AND c2 > ?) OR ...
func seek(o Order, back bool) string {
	var or []string
	for i := range o {
		var and []string
		for _, c := range o[:i] {
			and = append(and, c.Name+" = ?")
		}
		op := ">"
		if o[i].Desc != back {
			op = "<"
		}
		and = append(and, o[i].Name+" "+op+" ?")
		or = append(or, "("+strings.Join(and, " AND ")+")")
	}
	return "(" + strings.Join(or, " OR ") + ")"
}

func seekArgs(o Order, values []any) []any {
	var args []any
	for i := range o {
		args = append(args, values[:i+1]...)
	}
	return args
}
