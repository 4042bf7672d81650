package approvalpage

import (
	"bytes"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"clock": clock,
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	},
}).ParseFS(files, "templates/*.html"))

// pageView is what the layout renders: either the form or a result.
type pageView struct {
	Title   string
	CSS, JS string
	Form    *formView
	Result  *resultView
}

// formView is an open link: what is asked and the choices.
type formView struct {
	ProjectName       string
	KeyPath           string
	Info              string
	Actions           []actionView
	ExpiresAt         time.Time
	SecondsLeft       int
	TimeLeft          string
	PINRequired       bool
	AttemptsRemaining int
	Nonce             string
	MaxComment        int // characters
}

// actionView is one button. Style is a CSS class suffix chosen by the
// server from the action's style, never text from the approval.
type actionView struct {
	Key, Label, Style string
}

// resultView is the page after an access attempt that shows no form.
type resultView struct {
	Tone, Title, Message string
	Icon                 template.HTML
	Executed             *executedView
	ShowAttempts         bool
	AttemptsLeft         int
	RetryAfter           int // seconds; 429 only
	Retry                string
	RetryLabel           string
}

type executedView struct {
	Label   string
	At      time.Time
	Comment string // the decider's, as stored; empty for none
}

// render writes the whole page or, if the template fails, a bare 500: the
// page is built in memory first so that a reader never gets half of it.
func render(w http.ResponseWriter, r *http.Request, logger *slog.Logger, status int, v pageView) {
	v.CSS, v.JS = styleSheet.url, script.url
	var buf bytes.Buffer
	err := templates.ExecuteTemplate(&buf, "layout", v)
	setSecurityHeaders(w.Header())
	if err != nil {
		logger.ErrorContext(r.Context(), "render approval page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// timeLeft says how long until d runs out, as the page's script counts it.
func timeLeft(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	if s < 0 {
		s = 0
	}
	h, m, sec := s/3600, s%3600/60, s%60
	switch {
	case h > 0:
		return fmt.Sprintf("%d h %02d min", h, m)
	case m > 0:
		return fmt.Sprintf("%d min %02d s", m, sec)
	}
	return fmt.Sprintf("%d s", sec)
}

// clock is a time in UTC for readers without the page's script, which
// shows it in their own time zone.
func clock(t time.Time) string {
	t = t.UTC()
	y, m, d := t.Date()
	if ny, nm, nd := time.Now().UTC().Date(); y == ny && m == nm && d == nd {
		return t.Format("15:04 UTC")
	}
	return t.Format("2 Jan 2006, 15:04 UTC")
}
