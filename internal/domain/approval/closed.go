package approval

import "errors"

// ClosedStatus tells which status a CONFLICT from Open or Execute reports,
// so that the approval page can say in words why a link no longer works.
func ClosedStatus(err error) (Status, bool) {
	var closed *ClosedError
	if errors.As(err, &closed) {
		return closed.Status, true
	}
	return "", false
}
