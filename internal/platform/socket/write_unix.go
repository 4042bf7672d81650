//go:build unix

// Package socket is what servers of many websockets need below the
// websocket library: a write that never waits for the socket, and the
// hijacked connection handed to the library with its writes going through
// the server's own writer.
package socket

import (
	"errors"
	"syscall"
)

// WriteNow writes as much of p as the socket takes without waiting: one
// write(2) on the non-blocking descriptor, retried only when interrupted.
// It arms no deadline, so no timer per write: a writer serving thousands
// of connections makes one such write per connection and message.
func WriteNow(rc syscall.RawConn, p []byte) (int, error) {
	var n int
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, err := syscall.Write(int(fd), p[n:])
			if m > 0 {
				n += m
			}
			switch {
			case errors.Is(err, syscall.EINTR):
				continue
			case errors.Is(err, syscall.EAGAIN):
				return true // full: the rest waits
			case err != nil:
				werr = err
				return true
			case m <= 0:
				return true
			}
		}
		return true // never wait for the socket
	})
	if err != nil {
		return n, err
	}
	return n, werr
}
