package gqlws

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/ottr/backend/internal/platform/socket"
)

// A connection's writer writes every message waiting for it at once: it
// corks the connection, frames the messages into the held bytes (and the
// websocket library's control frames join them, whole), and uncorks,
// which sends them all in one write.
// When a connection keeps up, that is one message per write, as before;
// when it falls behind (a burst, a busy machine), the cost of a message
// falls instead of its wait growing.

// attach is the cork's socket.Hijacker.Wrap: the library writes through
// the cork.
func (c *cork) attach(conn net.Conn, raw syscall.RawConn) io.Writer {
	c.conn, c.raw = conn, raw
	return c
}

// cork holds back the writes to conn while corked. Writes never interleave:
// the library's own (control frames) may come from any goroutine.
type cork struct {
	conn    net.Conn
	raw     syscall.RawConn // conn's descriptor, when it is a plain socket
	timeout time.Duration   // of a write; 0: none

	mu     sync.Mutex
	corked bool
	closed bool // a close frame went out: no message may follow it
	buf    []byte
}

// quickWrite is how long a shared writer waits for a socket that does not
// take its messages at once before handing the connection to a goroutine
// of its own.
const quickWrite = time.Millisecond

// Write is the websocket library's: after the handshake, every write is
// one whole control frame (the library flushes each frame, and a control
// frame is far smaller than its buffer), so the first byte says which (a
// control frame is always final, with no reserved bit set).
func (c *cork) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(p) > 0 && p[0] == finBit|opClose {
		c.closed = true
	}
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if err := c.deadline(c.timeout); err != nil {
		return 0, err
	}
	return c.conn.Write(p)
}

func (c *cork) deadline(d time.Duration) error {
	if d <= 0 {
		return c.conn.SetWriteDeadline(time.Time{})
	}
	return c.conn.SetWriteDeadline(time.Now().Add(d))
}

// tryHold is hold unless a write is under way.
func (c *cork) tryHold() bool {
	if !c.mu.TryLock() {
		return false
	}
	c.corked = true
	c.mu.Unlock()
	return true
}

// maxFrameHeader is the longest header of a frame the server sends: two
// bytes, eight of length, no mask.
const maxFrameHeader = 10

// The websocket opcodes the cork needs (RFC 6455, 5.2).
const (
	opText  = 0x1
	opClose = 0x8
	finBit  = 0x80
)

// appendText frames each message of batch as one text frame into what is
// held back, making room for all of them in one allocation. Nothing is
// framed after a close frame, nor when not corked.
func (c *cork) appendText(batch []frame) {
	need := 0
	for _, f := range batch {
		need += f.len() + maxFrameHeader
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked || c.closed {
		return
	}
	if cap(c.buf)-len(c.buf) < need {
		buf := make([]byte, len(c.buf), len(c.buf)+need)
		copy(buf, c.buf)
		c.buf = buf
	}
	for _, f := range batch {
		c.buf = appendFrameHeader(c.buf, opText, f.len())
		c.buf = append(c.buf, f.a...)
		if f.b != nil {
			c.buf = append(c.buf, f.b...)
			c.buf = append(c.buf, '}')
		}
	}
}

// appendFrameHeader appends the header of a final, unmasked frame of n
// bytes.
func appendFrameHeader(b []byte, opcode byte, n int) []byte {
	b = append(b, finBit|opcode)
	switch {
	case n <= 125:
		return append(b, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
}

// hold starts holding writes back.
func (c *cork) hold() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// tryRelease writes what was held back if the socket takes it at once
// (done), or what it takes; the rest stays held back for release.
func (c *cork) tryRelease() (done bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) > 0 {
		n, err := c.writeQuick(c.buf)
		if err != nil {
			return false, err
		}
		if n < len(c.buf) {
			c.buf = c.buf[:copy(c.buf, c.buf[n:])]
			return false, nil
		}
	}
	c.reset()
	return true, nil
}

// writeQuick writes what the socket takes at once. On a plain socket
// that is one non-blocking write; otherwise (TLS) a write bounded by
// quickWrite, whose deadline costs a timer.
func (c *cork) writeQuick(p []byte) (int, error) {
	if c.raw != nil {
		n, err := socket.WriteNow(c.raw, p)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// A deadline a slower write set, since passed: clear it,
			// this write needs none.
			if err := c.deadline(0); err != nil {
				return 0, err
			}
			n, err = socket.WriteNow(c.raw, p)
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return n, err
		}
	}
	if err := c.deadline(quickWrite); err != nil {
		return 0, err
	}
	n, err := c.conn.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return n, err
}

// release writes what was held back, within the write timeout, and stops
// holding.
func (c *cork) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) > 0 {
		if err := c.deadline(c.timeout); err != nil {
			return err
		}
		if _, err := c.conn.Write(c.buf); err != nil {
			return err
		}
	}
	c.reset()
	return nil
}

func (c *cork) reset() {
	c.corked = false
	if cap(c.buf) > 64<<10 {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
}
