package slacktest

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"syscall"
)

// Resolver returns a resolver that answers every A query with ip and every
// other query with no records, as a DNS server that rebinds a public name
// (hooks.slack.com) to an internal address would.
func Resolver(ip [4]byte) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			client, server := net.Pipe()
			go serveDNS(server, ip, false)
			return client, nil
		},
	}
}

// Unresolvable returns a resolver that answers every query with NXDOMAIN,
// as for a host that does not exist.
func Unresolvable() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			client, server := net.Pipe()
			go serveDNS(server, [4]byte{}, true)
			return client, nil
		},
	}
}

// Unreachable returns a resolver whose DNS server refuses connections.
// Its errors name the server's address, as a real resolver's do.
func Unreachable() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(_ context.Context, network, address string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: network, Addr: dnsAddr(address), Err: syscall.ECONNREFUSED}
		},
	}
}

type dnsAddr string

func (a dnsAddr) Network() string { return "udp" }
func (a dnsAddr) String() string  { return string(a) }

// serveDNS answers DNS queries over a stream (2-byte length framing):
// with ip for A queries, no records for others, or NXDOMAIN for all.
func serveDNS(conn net.Conn, ip [4]byte, nxdomain bool) {
	defer conn.Close()
	for {
		var size [2]byte
		if _, err := io.ReadFull(conn, size[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(conn, q); err != nil || len(q) < 12 {
			return
		}
		end := 12
		for end < len(q) && q[end] != 0 {
			end += int(q[end]) + 1
		}
		end += 5 // root label, type, class
		if end > len(q) {
			return
		}
		qtype := binary.BigEndian.Uint16(q[end-4:])
		resp := append([]byte{q[0], q[1], 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, q[12:end]...)
		switch {
		case nxdomain:
			resp[3] = 0x83 // RCODE 3, name error
		case qtype == 1: // A
			resp[7] = 1
			resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
			resp = append(resp, ip[:]...)
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := conn.Write(append(out, resp...)); err != nil {
			return
		}
	}
}
