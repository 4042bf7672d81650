package approvalpage

import "net/http"

// contentSecurityPolicy allows the page its own stylesheet, script and form
// target and nothing else: no inline code, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// setSecurityHeaders marks a response as private to this one reader: the
// token is in the URL, so nothing may keep, frame or forward it.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Robots-Tag", "noindex, nofollow")
}
