package slack

import (
	"net/http"
	"net/netip"
)

// URLPolicy decides where a Client may post: Validate accepts or refuses
// a URL before any request, and InternalHosts names the host:port pairs
// (lower case, explicit port) that may resolve to internal addresses;
// every other host is dialled through the guard. Validator is Slack's;
// other channel kinds bring their own.
type URLPolicy interface {
	Validate(raw string) error
	InternalHosts() []string
}

// InternalHosts lists host:port of the configured prefixes that are not
// on Slack's host.
func (v Validator) InternalHosts() []string { return v.internalHosts() }

// PostOption adjusts a request before it is sent.
type PostOption func(*http.Request)

// WithHeader sets a request header, such as a signature.
func WithHeader(name, value string) PostOption {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

// ForbiddenClass names the class of ip when outbound requests must not
// reach it (loopback, private, link-local, …), and returns "" for a
// public unicast address: the dial guard's rule, for validating input
// before it is stored.
func ForbiddenClass(ip netip.Addr) string { return forbidden(ip) }
