package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// wsClient is one subscriber's websocket connection, spoken without a
// websocket library. The fan-out's subscribers share the server's two
// cores, so what they spend per message is taken from the side measured:
// a library's Read allocates each message afresh and copies it out of its
// buffer, while this reader hands out the message where it lies in the
// connection's buffer. It speaks what the fan-out needs of RFC 6455: the
// opening handshake, masked text frames out, unmasked frames in
// (fragmented or not), ping, pong and close. No extension is offered.
type wsClient struct {
	conn    net.Conn
	r       *bufio.Reader
	discard int    // bytes of the last message still in r
	msg     []byte // a message that did not fit in r, or came in fragments

	wmu sync.Mutex // writes: the subscriber's, and pongs
}

// wsReadBuffer holds several messages of the fan-out's size, so that one
// read takes all that arrived together.
const wsReadBuffer = 8 << 10

// wsMaxMessage bounds a message, as a websocket library's read limit does.
const wsMaxMessage = 1 << 20

// The opcodes of RFC 6455, 5.2.
const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
	wsPing         = 0x9
	wsPong         = 0xa
)

// errWSClosed is a connection that ended with a close frame.
var errWSClosed = errors.New("websocket closed")

// dialWS opens a websocket to rawURL (ws://) speaking protocol.
func dialWS(ctx context.Context, rawURL, protocol string) (*wsClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("dial %s: only ws:// is spoken", rawURL)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	c := &wsClient{conn: conn, r: bufio.NewReaderSize(conn, wsReadBuffer)}
	if err := c.handshake(ctx, u, protocol); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// wsAcceptGUID is the key suffix of the opening handshake (RFC 6455, 1.3).
const wsAcceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func (c *wsClient) handshake(ctx context.Context, u *url.URL, protocol string) error {
	if deadline, ok := ctx.Deadline(); ok {
		if err := c.conn.SetDeadline(deadline); err != nil {
			return err
		}
		defer c.conn.SetDeadline(time.Time{})
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{
		"Upgrade":                {"websocket"},
		"Connection":             {"Upgrade"},
		"Sec-WebSocket-Key":      {key},
		"Sec-WebSocket-Version":  {"13"},
		"Sec-WebSocket-Protocol": {protocol},
	}}
	if err := req.Write(c.conn); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	resp, err := http.ReadResponse(c.r, req)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	resp.Body.Close()
	sum := sha1.Sum([]byte(key + wsAcceptGUID))
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		return fmt.Errorf("handshake: HTTP %d", resp.StatusCode)
	case resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
		return errors.New("handshake: wrong Sec-WebSocket-Accept")
	case resp.Header.Get("Sec-WebSocket-Protocol") != protocol:
		return fmt.Errorf("handshake: subprotocol %q, want %q", resp.Header.Get("Sec-WebSocket-Protocol"), protocol)
	}
	return nil
}

// writeText sends p as one text message.
func (c *wsClient) writeText(p []byte) error { return c.write(wsText, p) }

// write sends one final, masked frame.
func (c *wsClient) write(opcode byte, p []byte) error {
	var key [4]byte
	_, _ = rand.Read(key[:])
	frame := make([]byte, 0, 14+len(p))
	frame = append(frame, 0x80|opcode)
	switch n := len(p); {
	case n <= 125:
		frame = append(frame, 0x80|byte(n))
	case n <= 0xffff:
		frame = binary.BigEndian.AppendUint16(append(frame, 0x80|126), uint16(n))
	default:
		frame = binary.BigEndian.AppendUint64(append(frame, 0x80|127), uint64(n))
	}
	frame = append(frame, key[:]...)
	for i, b := range p {
		frame = append(frame, b^key[i%4])
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	_, err := c.conn.Write(frame)
	return err
}

// read returns the next text or binary message, answering pings on the
// way. The message is valid until the next call.
func (c *wsClient) read() ([]byte, error) {
	c.msg = c.msg[:0]
	fragmented := false
	for {
		if c.discard > 0 {
			_, _ = c.r.Discard(c.discard)
			c.discard = 0
		}
		fin, opcode, payload, inMsg, err := c.frame()
		if err != nil {
			return nil, err
		}
		switch opcode {
		case wsPing:
			pong := append([]byte(nil), payload...)
			if err := c.write(wsPong, pong); err != nil {
				return nil, err
			}
			continue
		case wsPong:
			continue
		case wsClose:
			_ = c.write(wsClose, nil)
			return nil, errWSClosed
		case wsText, wsBinary:
			if fragmented {
				return nil, errors.New("a new message inside a fragmented one")
			}
		case wsContinuation:
			if !fragmented {
				return nil, errors.New("a continuation without a message")
			}
		default:
			return nil, fmt.Errorf("unknown opcode %#x", opcode)
		}
		if fin && !fragmented {
			return payload, nil
		}
		if !inMsg { // a frame read into msg is there already
			c.msg = append(c.msg, payload...)
		}
		if len(c.msg) > wsMaxMessage {
			return nil, fmt.Errorf("message over %d bytes", wsMaxMessage)
		}
		fragmented = true
		if fin {
			return c.msg, nil
		}
	}
}

// frame reads one frame's header and payload. A payload that fits in the
// buffer is returned in place (discarded on the next read); a larger one
// is appended to msg (inMsg).
func (c *wsClient) frame() (fin bool, opcode byte, payload []byte, inMsg bool, err error) {
	var head [2]byte
	if _, err := io.ReadFull(c.r, head[:]); err != nil {
		return false, 0, nil, false, err
	}
	fin, opcode = head[0]&0x80 != 0, head[0]&0x0f
	if head[0]&0x70 != 0 {
		return false, 0, nil, false, errors.New("reserved bits set: no extension was negotiated")
	}
	if head[1]&0x80 != 0 {
		return false, 0, nil, false, errors.New("a masked frame from the server")
	}
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(c.r, ext[:]); err != nil {
			return false, 0, nil, false, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(c.r, ext[:]); err != nil {
			return false, 0, nil, false, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if n > wsMaxMessage {
		return false, 0, nil, false, fmt.Errorf("frame of %d bytes, over %d", n, wsMaxMessage)
	}
	if int(n) <= c.r.Size() {
		payload, err = c.r.Peek(int(n))
		if err != nil {
			return false, 0, nil, false, err
		}
		c.discard = int(n)
		return fin, opcode, payload, false, nil
	}
	start := len(c.msg)
	c.msg = append(c.msg, make([]byte, n)...)
	if _, err := io.ReadFull(c.r, c.msg[start:]); err != nil {
		return false, 0, nil, false, err
	}
	return fin, opcode, c.msg[start:], true, nil
}

// Close ends the connection without a closing handshake.
func (c *wsClient) Close() error { return c.conn.Close() }
