package socket

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"syscall"
)

// Hijacker is a ResponseWriter whose Hijack hands a websocket library the
// connection with the library's writes going through a writer of the
// caller's, so that the caller can hold them back and add its own frames
// between them. Wrap receives the hijacked connection and its descriptor
// (nil when it is not a plain socket) and returns that writer.
type Hijacker struct {
	http.ResponseWriter
	Wrap func(conn net.Conn, raw syscall.RawConn) io.Writer
}

func (h Hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	var raw syscall.RawConn
	if sc, ok := conn.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			raw = rc
		}
	}
	brw.Writer.Reset(h.Wrap(conn, raw))
	return conn, brw, nil
}
