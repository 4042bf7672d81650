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

	// Special-purpose ranges (RFC 6890 and its updates) that no public
	// webhook lives in: protocol assignments, documentation, benchmarking,
	// discard.
	special = []netip.Prefix{
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("100::/64"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64: a private network's translator
		netip.MustParsePrefix("2001::/32"),      // Teredo: the IPv4 behind it is obfuscated
	}
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
// returns "" for a public unicast address. IPv4-mapped IPv6 addresses are
// judged as the IPv4 address they carry.
func forbidden(ip netip.Addr) string {
	ip = ip.Unmap()
	if v4, ok := embeddedIPv4(ip); ok {
		if class := forbidden(v4); class != "" {
			return class + " (through " + ip.String() + ")"
		}
		return ""
	}
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.IsUnspecified() || thisNetwork.Contains(ip):
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast():
		return "multicast"
	case cgnat.Contains(ip):
		return "shared (CGNAT)"
	case reserved.Contains(ip):
		return "reserved or broadcast"
	}
	for _, p := range special {
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
