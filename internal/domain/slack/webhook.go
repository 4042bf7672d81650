package slack

import (
	"net"
	"net/url"
	"regexp"
	"strings"
)

// defaultPrefix is the prefix of every Slack incoming webhook URL.
const defaultPrefix = "https://hooks.slack.com/services/"

// DefaultPrefixes is the prefix list used by a Validator without Prefixes.
var DefaultPrefixes = []string{defaultPrefix}

// MaxURLLength is the longest webhook URL accepted.
const MaxURLLength = 500

const (
	slackHost    = "hooks.slack.com"
	exampleURL   = "https://hooks.slack.com/services/T000/B000/XXXX"
	maskedSecret = "••••"
)

// webhookPath matches the path of a classic incoming webhook, optionally
// below a configured base path: …/services/T…/B…/secret.
var webhookPath = regexp.MustCompile(`^((?:/[A-Za-z0-9._~-]+)*)/services/(T[A-Za-z0-9]+)/(B[A-Za-z0-9]+)/([A-Za-z0-9]+)$`)

// FieldError reports an invalid input field. Message is meant for the
// user and is also the error text; it never repeats the submitted value.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Message }

// Validator checks webhook URLs against a list of allowed prefixes.
// The zero value allows only DefaultPrefixes.
type Validator struct {
	Prefixes []string
}

func (v Validator) prefixes() []string {
	if len(v.Prefixes) == 0 {
		return DefaultPrefixes
	}
	return v.Prefixes
}

// Validate returns a *FieldError for the field "webhookUrl" when raw is
// not an acceptable webhook URL, and nil otherwise.
func (v Validator) Validate(raw string) error {
	s := strings.TrimSpace(raw)
	if len(s) > MaxURLLength {
		return &FieldError{Field: "webhookUrl", Message: "webhook URL must be at most 500 characters"}
	}
	// The message names only Slack's public form: the configured extra
	// prefixes (a test server, an internal relay) are nobody else's business.
	invalid := &FieldError{
		Field:   "webhookUrl",
		Message: "webhook URL must start with " + defaultPrefix + " and look like " + exampleURL,
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || strings.ContainsAny(s, "?#") {
		return invalid
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return invalid
	}
	m := webhookPath.FindStringSubmatch(u.EscapedPath())
	if m == nil {
		return invalid
	}
	if strings.EqualFold(u.Hostname(), slackHost) && (u.Scheme != "https" || m[1] != "") {
		return invalid
	}
	for _, p := range v.prefixes() {
		if covers(p, s, u) {
			return nil
		}
	}
	return invalid
}

// covers reports whether the webhook URL s (parsed as u) starts with
// prefix, both as text and as scheme, host and path.
func covers(prefix, s string, u *url.URL) bool {
	if !strings.HasPrefix(s, prefix) {
		return false
	}
	p, err := url.Parse(prefix)
	if err != nil {
		return false
	}
	return p.Scheme == u.Scheme &&
		strings.EqualFold(p.Host, u.Host) &&
		strings.HasPrefix(u.EscapedPath(), p.EscapedPath())
}

// AllowsInternal reports whether u's host is named by an explicitly
// configured prefix other than Slack's own, such as a fake Slack on
// 127.0.0.1 in tests. Only such hosts may resolve to internal addresses.
func (v Validator) AllowsInternal(u *url.URL) bool {
	hp := HostPort(u)
	if hp == "" {
		return false
	}
	for _, allowed := range v.internalHosts() {
		if allowed == hp {
			return true
		}
	}
	return false
}

// internalHosts lists host:port of the configured prefixes that are not
// on Slack's host.
func (v Validator) internalHosts() []string {
	var hosts []string
	for _, p := range v.Prefixes {
		u, err := url.Parse(p)
		if err != nil || strings.EqualFold(u.Hostname(), slackHost) {
			continue
		}
		if hp := HostPort(u); hp != "" {
			hosts = append(hosts, hp)
		}
	}
	return hosts
}

// HostPort returns u's lower-case host with an explicit port, in the
// form the HTTP transport passes to its dialer; "" for a URL without a
// host or of a scheme other than http and https.
func HostPort(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		default:
			return ""
		}
	}
	return net.JoinHostPort(host, port)
}

// Mask returns the webhook URL with its secret replaced, such as
// https://hooks.slack.com/services/T0000/B0000/••••, for display and logs.
// It returns "••••" for input that is not a URL.
func Mask(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return maskedSecret
	}
	base := u.Scheme + "://" + u.Host
	if m := webhookPath.FindStringSubmatch(u.EscapedPath()); m != nil {
		return base + m[1] + "/services/" + m[2] + "/" + m[3] + "/" + maskedSecret
	}
	return base + "/" + maskedSecret
}
