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

// A connection's writer writes every message waiting for it at once, in
// one write: a shared writer frames them into its own buffer and writes
// them if the socket takes them at once (tryWrite); a connection that fell
// behind corks, frames them into the held bytes, and uncorks (drain). The
// websocket library's control frames join either, whole. When a
// connection keeps up, that is one message per write; when it falls
// behind (a burst, a busy machine), the cost of a message falls instead
// of its wait growing.
//
// The messages are framed here rather than by the websocket library: its
// Write copies a message into the connection's buffered writer and from
// there on, under a lock of its own, and with thousands of subscribers
// each copy lands in memory out of the cache. A message frame from the
// server is a fixed header and the bytes as they are (no mask, no
// compression: the transport does not offer it), so one copy suffices.

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
	c.buf = appendFrames(c.buf, batch)
}

// appendFrames appends each message of batch as one text frame.
func appendFrames(b []byte, batch []frame) []byte {
	for _, f := range batch {
		b = appendFrameHeader(b, opText, f.len())
		b = append(b, f.a...)
		if f.b != nil {
			b = append(b, f.b...)
			b = append(b, '}')
		}
	}
	return b
}

// tryWrite is a shared writer's write of batch, unless a write is under
// way (ok false: nothing done). It frames the messages into scratch, the
// writer's own buffer, and writes them if the socket takes them at once
// (done); what the socket does not take is held back, corked, for
// release. Only then are bytes copied into the connection's own buffer,
// so a connection that keeps up holds none: with thousands of them,
// those buffers were most of the server's memory, and copying into them
// meant copying into memory out of the cache.
func (c *cork) tryWrite(batch []frame, scratch []byte) (_ []byte, ok, done bool, err error) {
	if !c.mu.TryLock() {
		return scratch, false, false, nil
	}
	defer c.mu.Unlock()
	if c.closed {
		return scratch, true, true, nil
	}
	scratch = appendFrames(scratch[:0], batch)
	out := scratch
	if len(c.buf) > 0 { // held back before: it goes first
		c.buf = append(c.buf, scratch...)
		out = c.buf
	}
	n, err := c.writeQuick(out)
	switch {
	case err != nil:
		return scratch, true, false, err
	case n == len(out):
		c.reset()
		return scratch, true, true, nil
	case len(c.buf) > 0:
		c.buf = c.buf[:copy(c.buf, c.buf[n:])]
	default:
		c.buf = append(c.buf[:0], out[n:]...)
	}
	c.corked = true
	return scratch, true, false, nil
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
