// Package approvalpage serves the page behind an approval link: what a
// person opens from Slack, e-mail or SMS, often on a phone. Loading it is
// the access attempt of the approval rules; its form sends the nonce back
// to execute. It works without JavaScript and loads nothing from another
// origin: templates, stylesheet and script are embedded in the binary.
package approvalpage

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/requestlog"
)

// maxFormBytes caps the form: a nonce, an action key, a PIN and a comment
// of approval.MaxCommentLen characters fit, even percent-encoded at 12
// bytes a character.
const maxFormBytes = 8 << 10

// Options is what the page needs.
type Options struct {
	Approvals *approval.Service
	Logger    *slog.Logger
	// Now is the clock the approvals run on; nil is the system clock.
	Now func() time.Time
}

// Page serves approval links.
type Page struct {
	approvals *approval.Service
	logger    *slog.Logger
	now       func() time.Time
}

// New returns the approval page.
func New(o Options) *Page {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Page{approvals: o.Approvals, logger: o.Logger, now: now}
}

// Routes are the page's handlers by ServeMux pattern. The request log
// names the pattern, so the token in the path is never logged.
func (p *Page) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /a/{token}":                http.HandlerFunc(p.open), // and HEAD
		"POST /a/{token}":               http.HandlerFunc(p.execute),
		"GET " + assetPrefix + "{name}": http.HandlerFunc(serveAsset),
	}
}

// open shows a link. It is an access attempt (an expired link becomes
// EXPIRED here) but never consumes the link: mail scanners and link
// previews that fetch it change nothing else.
func (p *Page) open(w http.ResponseWriter, r *http.Request) {
	link, err := p.approvals.Open(r.Context(), r.PathValue("token"))
	if err != nil {
		p.refuse(w, r, err)
		return
	}
	left := link.ExpiresAt.Sub(p.now())
	form := &formView{
		ProjectName: link.ProjectName, KeyPath: link.KeyPath, ExpiresAt: link.ExpiresAt,
		SecondsLeft: max(int(left.Round(time.Second)/time.Second), 0), TimeLeft: timeLeft(left),
		PINRequired: link.PinRequired, AttemptsRemaining: link.AttemptsRemaining, Nonce: link.Nonce,
		MaxComment: approval.MaxCommentLen,
	}
	if link.Info != nil {
		form.Info = *link.Info
	}
	for _, a := range link.Actions {
		form.Actions = append(form.Actions, actionView{Key: a.Key, Label: a.Label, Style: buttonClass(a.Style)})
	}
	render(w, r, p.logger, http.StatusOK, pageView{Title: "Approval requested", Form: form})
}

// execute submits the form: the nonce from the page, the chosen action and
// the PIN.
func (p *Page) execute(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.show(w, r, outcomeBadForm, nil)
		return
	}
	f := r.PostForm // never the query string
	var comment *string
	if f.Has("comment") {
		// Browsers send a textarea's line breaks as CRLF; maxlength counted
		// each as one character, and so does the limit.
		c := strings.ReplaceAll(f.Get("comment"), "\r\n", "\n")
		comment = &c
	}
	ex, err := p.approvals.ExecuteCommented(r.Context(), r.PathValue("token"), f.Get("nonce"), f.Get("action"), f.Get("pin"), comment)
	if err != nil {
		if e, ok := apperr.As(err); ok && e.Code == apperr.CodeBadUserInput && e.Field == "comment" {
			p.show(w, r, outcomeBadComment, nil)
			return
		}
		p.refuse(w, r, err)
		return
	}
	switch ex.Status {
	case approval.Executed:
		p.show(w, r, outcomeExecuted, func(v *resultView) {
			v.Executed = &executedView{Label: ex.Action.Label, At: *ex.ExecutedAt}
			if ex.Comment != nil {
				v.Executed.Comment = *ex.Comment
			}
		})
	case approval.Locked:
		p.show(w, r, outcomeLocked, nil)
	default: // a wrong PIN, counted
		p.show(w, r, outcomeWrongPIN, func(v *resultView) {
			v.ShowAttempts, v.AttemptsLeft = true, ex.AttemptsRemaining
		})
	}
}

// refuse shows why an access attempt was refused. Anything that is not a
// domain error is logged (the error never holds the token) and shown as a
// failure without detail.
func (p *Page) refuse(w http.ResponseWriter, r *http.Request, err error) {
	switch apperr.CodeOf(err) {
	case apperr.CodeNotFound:
		p.show(w, r, outcomeUnknown, nil)
	case apperr.CodeBadUserInput:
		p.show(w, r, outcomeBadForm, nil)
	case apperr.CodeConflict:
		p.show(w, r, closedOutcome(err), nil)
	case apperr.CodeForbidden:
		p.show(w, r, outcomeLinkNotAllowed, nil)
	case apperr.CodeRateLimited:
		e, _ := apperr.As(err)
		wait := max(int((e.RetryAfter+time.Second-1)/time.Second), 1)
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		p.show(w, r, outcomeRateLimited, func(v *resultView) { v.RetryAfter = wait })
	default:
		p.logger.ErrorContext(r.Context(), "approval link", "err", err, "request_id", requestlog.ID(r.Context()))
		p.show(w, r, outcomeFailure, nil)
	}
}

// show renders an outcome; fill adds what only this response knows.
func (p *Page) show(w http.ResponseWriter, r *http.Request, o outcome, fill func(*resultView)) {
	v := o.view(r.URL.EscapedPath())
	if fill != nil {
		fill(v)
	}
	render(w, r, p.logger, o.status, pageView{Title: o.title, Result: v})
}

func buttonClass(s approval.Style) string {
	switch s {
	case approval.StylePrimary:
		return "primary"
	case approval.StyleDanger:
		return "danger"
	}
	return "default"
}
