//go:build !unix

// Package socket is what servers of many websockets need below the
// websocket library: a write that never waits for the socket, and the
// hijacked connection handed to the library with its writes going through
// the server's own writer.
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
