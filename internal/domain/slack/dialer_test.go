package slack

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestForbidden(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"127.0.0.1":                true,
		"127.8.9.10":               true,
		"::1":                      true,
		"10.1.2.3":                 true,
		"172.16.0.1":               true,
		"172.31.255.255":           true,
		"192.168.1.1":              true,
		"fc00::1":                  true,
		"fd12:3456::1":             true,
		"169.254.169.254":          true,
		"fe80::1":                  true,
		"100.64.0.1":               true,
		"100.127.255.255":          true,
		"0.0.0.0":                  true,
		"0.1.2.3":                  true,
		"::":                       true,
		"224.0.0.1":                true,
		"239.255.255.250":          true,
		"ff02::1":                  true,
		"255.255.255.255":          true,
		"::ffff:127.0.0.1":         true,
		"::ffff:169.254.169.254":   true,
		"::ffff:10.0.0.1":          true,
		"198.18.0.1":               true,
		"198.19.255.255":           true,
		"192.0.2.10":               true,
		"203.0.113.5":              true,
		"192.0.0.8":                true,
		"2001:db8::1":              true,
		"2001:0:4136:e378::1":      true,  // Teredo
		"64:ff9b::7f00:1":          true,  // NAT64 of 127.0.0.1
		"64:ff9b::a9fe:a9fe":       true,  // NAT64 of 169.254.169.254
		"64:ff9b:1::a00:1":         true,  // local-use NAT64
		"2002:7f00:1::1":           true,  // 6to4 of 127.0.0.1
		"2002:a00:1::1":            true,  // 6to4 of 10.0.0.1
		"64:ff9b::808:808":         false, // NAT64 of 8.8.8.8
		"2002:808:808::1":          false, // 6to4 of 8.8.8.8
		"198.20.0.1":               false,
		"8.8.8.8":                  false,
		"172.32.0.1":               false,
		"100.128.0.1":              false,
		"54.230.1.1":               false,
		"2a00:1450:4001:80b::200e": false,
		"::ffff:8.8.8.8":           false,

		// IPv4-compatible (::/96, deprecated): refused whatever it holds.
		"::7f00:1":    true,
		"::127.0.0.1": true,
		"::a00:1":     true,
		"::808:808":   true,
		"::2":         true,
		// IPv4-mapped (::ffff:0:0/96): judged as the IPv4 address.
		"::ffff:7f00:1":     true,
		"::ffff:a9fe:a9fe":  true,
		"::ffff:c0a8:101":   true,
		"::ffff:0.0.0.0":    true,
		"::ffff:100.64.0.1": true,
		// IPv4-translated (::ffff:0:0:0/96): refused whatever it holds.
		"::ffff:0:7f00:1":  true,
		"::ffff:0:a00:1":   true,
		"::ffff:0:808:808": true,
		// NAT64 well-known prefix: judged as the embedded IPv4 address.
		"64:ff9b::a00:1":     true,
		"64:ff9b::c0a8:1":    true,
		"64:ff9b::ac10:1":    true,
		"64:ff9b::6440:1":    true, // 100.64.0.1
		"64:ff9b::1.1.1.1":   false,
		"64:ff9b:1::808:808": true, // local-use NAT64, whatever it holds
		// 6to4 (2002::/16): judged as the embedded IPv4 address.
		"2002:c0a8:101::1":  true,
		"2002:a9fe:a9fe::1": true,
		"2002:0:0::1":       true,
		"2002:ffff:ffff::1": true,
		"2002:101:101::1":   false,
		// Teredo and the other IETF protocol assignments.
		"2001::1":           true,
		"2001:0:808:808::1": true,
		"2001:2::1":         true, // benchmarking
		"2001:10::1":        true, // ORCHID
		"2001:20::1":        true, // ORCHIDv2
		"2001:1ff:ffff::1":  true,
		// Site-local, unique-local, link-local, multicast.
		"fec0::1":      true,
		"feff:ffff::1": true,
		"fc00::":       true,
		"fdff:ffff::1": true,
		"fe80::1%eth0": true,
		"febf::1":      true,
		"ff00::1":      true,
		"ff05::2":      true,
		"ff0e::101":    true,
		// Unspecified, loopback, discard, documentation, SRv6, reserved.
		"::0":              true,
		"0:0:0:0:0:0:0:1":  true,
		"100::1":           true,
		"2001:db8:ffff::1": true,
		"3fff::1":          true,
		"3fff:fff::1":      true,
		"5f00::1":          true,
		"4000::1":          true,
		"1::1":             true,
		"e000::1":          true,
		// Public addresses.
		"2001:200::1":          false,
		"2600:1f18:1234::1":    false,
		"2606:4700:4700::1111": false,
		"3ffe::1":              false,
		"3fff:1000::1":         false,
		"1.1.1.1":              false,
		"192.88.98.1":          false,
		"192.88.99.1":          true, // 6to4 relay anycast
		"192.0.1.1":            false,
		"223.255.255.255":      false,
		"239.0.0.1":            true,
		"169.254.0.1":          true,
		"127.255.255.255":      true,
	}
	for s, want := range cases {
		if got := forbidden(netip.MustParseAddr(s)) != ""; got != want {
			t.Errorf("forbidden(%s) = %v, want %v", s, got, want)
		}
	}
}

// The guard runs before connecting, so refused addresses need no network.
func TestDialRefusesInternalAddresses(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d := newDialer(Validator{}, nil)
	for _, addr := range []string{
		"localhost:" + port, // a name resolving to 127.0.0.1
		"127.0.0.1:" + port,
		"169.254.169.254:80",
		"[::ffff:169.254.169.254]:80",
		"10.0.0.1:443",
		"[::7f00:1]:" + port,        // IPv4-compatible 127.0.0.1
		"[::ffff:0:7f00:1]:" + port, // IPv4-translated 127.0.0.1
		"[::ffff:127.0.0.1]:" + port,
		"[64:ff9b::7f00:1]:443",
		"[2002:7f00:1::1]:443",
		"[2001::1]:443",
		"[fec0::1]:443",
		"[fd00::1]:443",
		"[fe80::1%lo]:443",
		"[ff02::1]:443",
		"[::]:" + port,
		"[::1]:" + port,
		"[2001:db8::1]:443",
	} {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			t.Errorf("dialled %s", addr)
			continue
		}
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("dial %s: %v, want ErrForbiddenAddress", addr, err)
		}
	}

	// A configured non-Slack prefix opens exactly its own host and port.
	d = newDialer(Validator{Prefixes: []string{defaultPrefix, "http://localhost:" + port + "/"}}, nil)
	conn, err := d.DialContext(ctx, "tcp", "localhost:"+port)
	if err != nil {
		t.Fatalf("dial allowed test server: %v", err)
	}
	conn.Close()
	if _, err := d.DialContext(ctx, "tcp", "127.0.0.1:"+port); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("same server by another name: %v, want ErrForbiddenAddress", err)
	}
}
