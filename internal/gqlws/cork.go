package gqlws

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// A connection's writer writes every message waiting for it at once: it
// corks the connection, lets the websocket library frame the messages
// (it flushes each one), and uncorks, which sends them all in one write.
// When a connection keeps up, that is one message per write, as before;
// when it falls behind (a burst, a busy machine), the cost of a message
// falls instead of its wait growing.

// corkHijacker hands the websocket library a connection whose writes go
// through cork.
type corkHijacker struct {
	http.ResponseWriter
	cork *cork
}

func (h corkHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	h.cork.conn = conn
	brw.Writer.Reset(h.cork)
	return conn, brw, nil
}

// cork holds back the writes to conn while corked. Writes never interleave:
// the library's own (control frames) may come from any goroutine.
type cork struct {
	conn net.Conn

	mu     sync.Mutex
	corked bool
	buf    []byte
}

func (c *cork) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.conn.Write(p)
}

// hold starts holding writes back.
func (c *cork) hold() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// release writes what was held back, in one write, and stops holding.
func (c *cork) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.conn.Write(c.buf)
	if cap(c.buf) > 64<<10 {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return err
}
