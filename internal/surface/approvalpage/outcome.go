package approvalpage

import (
	"html/template"
	"net/http"
	"strconv"

	"github.com/ottr/backend/internal/domain/approval"
)

// outcome is how an access attempt ended, when it shows no form. Its texts
// say what happened and what to do, never why a guess failed: an unknown
// link says nothing about links that exist, a wrong PIN nothing about the
// right one.
type outcome struct {
	status  int
	tone    string // ok, warn or stop: the icon's colour
	icon    template.HTML
	title   string
	message string
	retry   string // label of the link back to the page, if one helps
}

// The statuses: 200 for the one success; 403 when the PIN was refused (the
// request was understood, the credential was not); 409 when the decision
// was already made (a second submission conflicts with the first) or the
// link changed while its page was open; 410
// when the link can never be used again (expired, withdrawn, locked); 404
// for a link that never existed; 400 for a form that is not one this
// server handed out; 429 with Retry-After for too many attempts.
var (
	outcomeExecuted = outcome{
		status: http.StatusOK, tone: "ok", icon: iconCheck,
		title: "Done", message: "Your choice was recorded. You can close this page.",
	}
	outcomeWrongPIN = outcome{
		status: http.StatusForbidden, tone: "warn", icon: iconKey,
		title: "Wrong PIN", message: "That PIN is not correct. Nothing was chosen.", retry: "Try again",
	}
	outcomeLocked = outcome{
		status: http.StatusGone, tone: "stop", icon: iconLock,
		title: "Link locked", message: "Too many wrong PINs were entered, so this link no longer works. Ask the sender for a new one.",
	}
	outcomeExpired = outcome{
		status: http.StatusGone, tone: "stop", icon: iconClock,
		title: "Link expired", message: "This link is past its time and no longer works. Ask the sender for a new one if a decision is still needed.",
	}
	outcomeInvalidated = outcome{
		status: http.StatusGone, tone: "stop", icon: iconBan,
		title: "Request withdrawn", message: "The sender withdrew this request. There is nothing left to decide.",
	}
	outcomeUsed = outcome{
		status: http.StatusConflict, tone: "warn", icon: iconCheck,
		title: "Already used", message: "A choice was already made with this link. It works only once.",
	}
	outcomeChanged = outcome{
		status: http.StatusConflict, tone: "warn", icon: iconRefresh,
		title: "Link changed", message: "This link changed while the page was open, so nothing was chosen.", retry: "Open the link again",
	}
	outcomeLinkNotAllowed = outcome{
		status: http.StatusForbidden, tone: "stop", icon: iconBan,
		title: "Decided elsewhere", message: "This request is decided in Slack or in the Ottr dashboard, not through this link.",
	}
	outcomeUnknown = outcome{
		status: http.StatusNotFound, tone: "stop", icon: iconQuestion,
		title: "Link not found", message: "This link is not valid. Check that you opened the whole link.",
	}
	outcomeRateLimited = outcome{
		status: http.StatusTooManyRequests, tone: "warn", icon: iconClock,
		title: "Too many attempts", message: "Too many requests came from your network in a short time.", retry: "Try again",
	}
	outcomeBadForm = outcome{
		status: http.StatusBadRequest, tone: "warn", icon: iconRefresh,
		title: "Page out of date", message: "This form is out of date or incomplete, so nothing was chosen.", retry: "Open the link again",
	}
	outcomeBadComment = outcome{
		status: http.StatusBadRequest, tone: "warn", icon: iconRefresh,
		title: "Comment not accepted", message: "A comment must be text of at most " + strconv.Itoa(approval.MaxCommentLen) + " characters. Nothing was chosen.", retry: "Open the link again",
	}
	outcomeFailure = outcome{
		status: http.StatusInternalServerError, tone: "stop", icon: iconAlert,
		title: "Something went wrong", message: "The request could not be completed. Try again in a moment.", retry: "Try again",
	}
)

// Icons are drawn inline: the page loads no images.
const svgOpen = `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round">`

const (
	iconCheck    template.HTML = svgOpen + `<path d="M5 12.5l4.5 4.5L19 7.5"/></svg>`
	iconKey      template.HTML = svgOpen + `<circle cx="8" cy="15" r="4"/><path d="M11 12l8-8M16 7l3 3M14 9l2 2"/></svg>`
	iconLock     template.HTML = svgOpen + `<rect x="5" y="11" width="14" height="9" rx="2"/><path d="M8 11V8a4 4 0 0 1 8 0v3"/></svg>`
	iconClock    template.HTML = svgOpen + `<circle cx="12" cy="12" r="8.5"/><path d="M12 7.5V12l3 2"/></svg>`
	iconBan      template.HTML = svgOpen + `<circle cx="12" cy="12" r="8.5"/><path d="M6 6l12 12"/></svg>`
	iconQuestion template.HTML = svgOpen + `<circle cx="12" cy="12" r="8.5"/><path d="M9.5 9.5a2.5 2.5 0 1 1 3.5 2.3c-.6.3-1 .9-1 1.6v.6"/><path d="M12 17h.01"/></svg>`
	iconRefresh  template.HTML = svgOpen + `<path d="M19 12a7 7 0 1 1-2.05-4.95"/><path d="M19 4.5V8h-3.5"/></svg>`
	iconAlert    template.HTML = svgOpen + `<path d="M12 4l9 16H3z"/><path d="M12 10v4M12 17h.01"/></svg>`
)

// view turns the outcome into the page's result; retryURL is the link's
// own address for outcomes where loading it again helps.
func (o outcome) view(retryURL string) *resultView {
	v := &resultView{Tone: o.tone, Icon: o.icon, Title: o.title, Message: o.message}
	if o.retry != "" {
		v.Retry, v.RetryLabel = retryURL, o.retry
	}
	return v
}

// closedOutcome is the outcome of a CONFLICT: the link's state in words.
func closedOutcome(err error) outcome {
	st, _ := approval.ClosedStatus(err)
	switch st {
	case approval.Executed:
		return outcomeUsed
	case approval.Expired:
		return outcomeExpired
	case approval.Invalidated:
		return outcomeInvalidated
	case approval.Locked:
		return outcomeLocked
	}
	return outcomeChanged
}
