package httpserver

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddress(t *testing.T) {
	t.Parallel()
	proxies := NewClientAddress([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")})
	cases := []struct {
		name, peer string
		forwarded  []string
		via        ClientAddress
		want       string
	}{
		{"no proxies configured: the header is ignored", "198.51.100.1:4000", []string{"203.0.113.9"}, ClientAddress{}, "198.51.100.1"},
		{"untrusted peer: the header is ignored", "198.51.100.1:4000", []string{"203.0.113.9"}, proxies, "198.51.100.1"},
		{"trusted peer without a header", "10.1.2.3:4000", nil, proxies, "10.1.2.3"},
		{"one trusted proxy", "10.1.2.3:4000", []string{"203.0.113.9"}, proxies, "203.0.113.9"},
		{"a client's invented entries are skipped", "10.1.2.3:4000", []string{"1.2.3.4, 203.0.113.9"}, proxies, "203.0.113.9"},
		{"a chain of trusted proxies", "10.1.2.3:4000", []string{"203.0.113.9, 192.0.2.7", "10.9.9.9"}, proxies, "203.0.113.9"},
		{"garbage stops the walk at the last vouched address", "10.1.2.3:4000", []string{"203.0.113.9, not-an-ip, 10.5.5.5"}, proxies, "10.5.5.5"},
		{"only trusted hops", "10.1.2.3:4000", []string{"10.7.7.7"}, proxies, "10.7.7.7"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:4000", []string{"2001:db8::5"}, proxies, "2001:db8::5"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.forwarded {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := tc.via.Of(r); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}
