//go:build !unix

// Package socket writes to a socket without waiting for it.
package socket

import (
	"errors"
	"syscall"
)

// WriteNow is not available here: callers fall back to a write under a
// short deadline.
func WriteNow(syscall.RawConn, []byte) (int, error) {
	return 0, errors.ErrUnsupported
}
