package webhook

import (
	"net/netip"
	"net/url"
	"strings"

	"github.com/ottr/backend/internal/domain/slack"
)

// MaxURLLength is the longest endpoint URL accepted.
const MaxURLLength = 1000

// Policy decides which URLs endpoints and callbacks may have: HTTPS to a
// public host, unless the URL starts with one of Prefixes
// (OTTR_WEBHOOK_ALLOWED_PREFIXES), which exempts private deployments and
// tests from both rules. It is the shared client's URLPolicy for
// webhooks: hosts of a prefix may resolve to internal addresses, every
// other host is dialled through the guard, which refuses them.
type Policy struct {
	Prefixes []string
}

// Validate returns a *slack.FieldError for the field "url" when raw is not
// an acceptable endpoint URL, and nil otherwise. Its messages never repeat
// the URL or name the configured prefixes.
func (p Policy) Validate(raw string) error {
	s := strings.TrimSpace(raw)
	invalid := func(msg string) error { return &slack.FieldError{Field: "url", Message: msg} }
	if len(s) > MaxURLLength {
		return invalid("url must be at most 1000 characters")
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return invalid("url must be an absolute https:// URL")
	}
	if u.User != nil {
		return invalid("url must not contain a user name or password")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return invalid("url must not contain a fragment")
	}
	for _, prefix := range p.Prefixes {
		if covered(prefix, s, u) {
			return nil
		}
	}
	if u.Scheme != "https" {
		return invalid("url must use https")
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if ip, err := netip.ParseAddr(host); err == nil {
		if slack.ForbiddenClass(ip) != "" {
			return invalid("url must not point to an internal address")
		}
	} else if host == "localhost" || strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".local") ||
		strings.HasSuffix(host, ".internal") || !strings.Contains(host, ".") {
		return invalid("url must name a public host")
	}
	return nil
}

// covered reports whether s (parsed as u) starts with prefix, as text and
// as scheme, host and path.
func covered(prefix, s string, u *url.URL) bool {
	if prefix == "" || !strings.HasPrefix(s, prefix) {
		return false
	}
	pu, err := url.Parse(prefix)
	if err != nil {
		return false
	}
	return pu.Scheme == u.Scheme && strings.EqualFold(pu.Host, u.Host) && strings.HasPrefix(u.EscapedPath(), pu.EscapedPath())
}

// InternalHosts lists host:port of the configured prefixes.
func (p Policy) InternalHosts() []string {
	var hosts []string
	for _, prefix := range p.Prefixes {
		if u, err := url.Parse(prefix); err == nil {
			if hp := slack.HostPort(u); hp != "" {
				hosts = append(hosts, hp)
			}
		}
	}
	return hosts
}

// Mask returns the URL's scheme and host with the rest replaced, such as
// https://example.com/••••, for display and logs: paths and queries often
// hold tokens.
func Mask(raw string) string { return slack.Mask(raw) }
