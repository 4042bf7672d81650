package slack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress is returned when a webhook host resolves to an
// address that outbound requests must not reach.
var ErrForbiddenAddress = errors.New("forbidden address")

var (
	cgnat       = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	reserved    = netip.MustParsePrefix("240.0.0.0/4") // includes broadcast

	// Special-purpose IPv4 ranges (RFC 6890 and its updates) that no
	// public webhook lives in: protocol assignments, documentation,
	// benchmarking, the deprecated 6to4 relay anycast.
	special4 = []netip.Prefix{
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("192.88.99.0/24"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
	}

	// IPv6 ranges refused whatever follows the prefix, in the order they
	// are checked; every other IPv6 address must be global unicast
	// (2000::/3).
	refused6 = []struct {
		prefix netip.Prefix
		class  string
	}{
		// ::/96 holds :: and ::1 too, named first by forbidden.
		{netip.MustParsePrefix("::/96"), "IPv4-compatible"},
		{netip.MustParsePrefix("::ffff:0:0:0/96"), "IPv4-translated"},
		{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"}, // a private network's translator
		{netip.MustParsePrefix("100::/64"), "discard-only"},
		{netip.MustParsePrefix("2001::/32"), "Teredo"}, // the IPv4 behind it is obfuscated
		// The rest of the IETF protocol assignments: benchmarking,
		// ORCHID, AMT, AS112; no webhook lives there.
		{netip.MustParsePrefix("2001::/23"), "IETF protocol assignment"},
		{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
		{netip.MustParsePrefix("3fff::/20"), "documentation"},
		{netip.MustParsePrefix("5f00::/16"), "segment routing"},
		{netip.MustParsePrefix("fc00::/7"), "unique-local"},
		{netip.MustParsePrefix("fe80::/10"), "link-local"},
		{netip.MustParsePrefix("fec0::/10"), "site-local"},
		{netip.MustParsePrefix("ff00::/8"), "multicast"},
	}
	globalUnicast6 = netip.MustParsePrefix("2000::/3")

	// IPv6 forms that carry an IPv4 address a gateway will connect to:
	// those are judged as that IPv4 address.
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// embeddedIPv4 returns the IPv4 address that a NAT64 (RFC 6052 well-known
// prefix) or 6to4 (RFC 3056) address stands for, so that
// 64:ff9b::7f00:1 cannot reach 127.0.0.1 through a translator.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return ip, false
}

// forbidden names the class of ip when webhooks must not reach it, and
// returns "" for a public unicast address. IPv4-mapped IPv6 addresses
// (::ffff:0:0/96), which a dual-stack socket connects over IPv4, are
// judged as the IPv4 address they carry, as are NAT64 and 6to4 ones.
func forbidden(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid"
	}
	// A zone (fe80::1%eth0) would keep the address out of every prefix.
	ip = ip.WithZone("").Unmap()
	if ip.Is4() {
		return forbidden4(ip)
	}
	if v4, ok := embeddedIPv4(ip); ok {
		if class := forbidden4(v4); class != "" {
			return class + " (through " + ip.String() + ")"
		}
		return ""
	}
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	}
	for _, r := range refused6 {
		if r.prefix.Contains(ip) {
			return r.class + " (" + r.prefix.String() + ")"
		}
	}
	if !globalUnicast6.Contains(ip) {
		return "reserved (outside 2000::/3)"
	}
	return ""
}

// forbidden4 is forbidden for an IPv4 address.
func forbidden4(ip netip.Addr) string {
	switch {
	case ip.IsUnspecified() || thisNetwork.Contains(ip):
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	case cgnat.Contains(ip):
		return "shared (CGNAT)"
	case reserved.Contains(ip):
		return "reserved or broadcast"
	}
	for _, p := range special4 {
		if p.Contains(ip) {
			return "special-purpose (" + p.String() + ")"
		}
	}
	return ""
}

// guard is a net.Dialer Control function: it runs after name resolution,
// for every address about to be connected, and refuses internal ones.
func guard(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable %s address %q", ErrForbiddenAddress, network, address)
	}
	if class := forbidden(ap.Addr()); class != "" {
		return fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, ap.Addr(), class)
	}
	return nil
}

// dialer connects guarded, except to the hosts of explicitly configured
// non-Slack prefixes (Validator.AllowsInternal), which may be internal.
type dialer struct {
	guarded  net.Dialer
	open     net.Dialer
	internal map[string]bool // host:port, lower case
}

func newDialer(v URLPolicy, resolver *net.Resolver) *dialer {
	d := &dialer{
		guarded:  net.Dialer{Timeout: 5 * time.Second, Control: guard, Resolver: resolver},
		open:     net.Dialer{Timeout: 5 * time.Second, Resolver: resolver},
		internal: make(map[string]bool),
	}
	for _, hp := range v.InternalHosts() {
		d.internal[hp] = true
	}
	return d
}

// DialContext decides by the dialled host, before resolution, whether
// internal addresses are acceptable.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if d.internal[net.JoinHostPort(strings.ToLower(host), port)] {
		return d.open.DialContext(ctx, network, addr)
	}
	return d.guarded.DialContext(ctx, network, addr)
}
