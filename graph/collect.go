package graph

import (
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// collectFields takes the place of gqlgen's graphql.CollectFields, which the
// generated code calls once for every object it marshals, with the object's
// selection set and the names of the types it satisfies (a package-level
// implementors slice of generated.go). gqlgen caches the result in the
// operation's context, under a key it makes by hashing every one of those
// names (fnv, allocating) and looks up under a read-write mutex that all
// the operation's goroutines share: on a dashboard's page of 50 approvals
// with their events, about 4 % of the server's CPU and of its allocations.
//
// Here the cache is the operation's executionContext's (gqlgenrewrite adds
// the field; gqlgen makes one executionContext per operation, so the cache
// lives as long as the operation, a subscription's included, and no
// longer). The key is the identity of the two slices, which a document
// cannot change while its operation runs: the selection set's backing
// array and length (gqlgen keys on these too), and the implementors'
// backing array and length instead of a hash of the strings in it. A hit
// is a scan of a few entries read through one atomic load; a miss calls
// graphql.CollectFields itself, so every result is gqlgen's, and publishes
// a copy of the entries with the new one added. An entry holds pointers to
// both slices, keeping them alive: an address is never reused for another
// slice while the cache can still match it. Past maxCollected entries (a
// document that selects many objects in many ways), the scan would grow
// with the document; gqlgen's own cache answers the rest.
func collectFields(
	c *collectedFields,
	oc *graphql.OperationContext,
	sel ast.SelectionSet,
	satisfies []string,
) []graphql.CollectedField {
	key := collectedKey{firstOf(sel), len(sel), firstOf(satisfies), len(satisfies)}
	entries := c.entries.Load()
	if fields, ok := entries.find(key); ok {
		return fields
	}
	fields := graphql.CollectFields(oc, sel, satisfies)
	for entries.len() < maxCollected {
		grown := make(collectedEntries, entries.len(), entries.len()+1)
		if entries != nil {
			copy(grown, *entries)
		}
		grown = append(grown, collectedEntry{key, fields})
		if c.entries.CompareAndSwap(entries, &grown) {
			break
		}
		// Another goroutine added an entry first, perhaps this one.
		entries = c.entries.Load()
		if found, ok := entries.find(key); ok {
			return found
		}
	}
	return fields
}

// maxCollected is the most entries a cache holds: a page's document selects
// a dozen or so objects.
const maxCollected = 32

// collectedFields is an operation's cache of collectFields' results. Its
// entries are never changed once published.
type collectedFields struct {
	entries atomic.Pointer[collectedEntries]
}

type collectedKey struct {
	sel          *ast.Selection
	selLen       int
	satisfies    *string
	satisfiesLen int
}

type collectedEntry struct {
	key    collectedKey
	fields []graphql.CollectedField
}

type collectedEntries []collectedEntry

func (e *collectedEntries) len() int {
	if e == nil {
		return 0
	}
	return len(*e)
}

func (e *collectedEntries) find(key collectedKey) ([]graphql.CollectedField, bool) {
	if e == nil {
		return nil, false
	}
	for i := range *e {
		if (*e)[i].key == key {
			return (*e)[i].fields, true
		}
	}
	return nil, false
}

// firstOf is a pointer to s's first element, nil if it has none.
func firstOf[T any](s []T) *T {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}
