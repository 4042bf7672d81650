package httpserver

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddress tells the client's address from a request: the peer, or,
// when the peer is a trusted proxy, the nearest address in
// X-Forwarded-For that is not one. Rate limits key on it, so a header is
// believed only from proxies the operator named: from anyone else it
// would let a client pick a fresh address for every request.
type ClientAddress struct {
	trusted []netip.Prefix
}

// NewClientAddress trusts X-Forwarded-For from peers within trusted.
func NewClientAddress(trusted []netip.Prefix) ClientAddress {
	return ClientAddress{trusted: trusted}
}

func (c ClientAddress) isTrusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range c.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Of returns the client address of r.
func (c ClientAddress) Of(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || len(c.trusted) == 0 || !c.isTrusted(peer) {
		return host
	}
	// Proxies append the address they received from, so the list reads
	// client, proxy 1, proxy 2, …; walk it from our side and stop at the
	// first hop that is not one of ours. Anything left of it is the
	// client's to invent.
	client := peer.Unmap()
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: keep the last address a trusted proxy vouched for
		}
		client = hop.Unmap()
		if !c.isTrusted(client) {
			break
		}
	}
	return client.String()
}
