//go:build !unix

package gqlws

import (
	"errors"
	"syscall"
)

// writeNow is not available here: the cork falls back to a short
// deadline (see cork.writeQuick).
func writeNow(syscall.RawConn, []byte) (int, error) {
	return 0, errors.ErrUnsupported
}
