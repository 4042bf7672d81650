package approval

import "errors"

// ClosedStatus tells which status a CONFLICT from Open or Execute reports,
// so that the approval page can say in words why a link no longer works.
func ClosedStatus(err error) (Status, bool) {
	for _, st := range []Status{Executed, Expired, Invalidated, Locked} {
		if errors.Is(err, closedError(st)) {
			return st, true
		}
	}
	return "", false
}
