package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/slack-go/slack"

	"github.com/ottr/backend/internal/domain/event"
)

// MaxSectionText is Slack's limit for a section block's text, in
// characters. A message's text is also its section's text, so this bounds
// both (Slack allows 40,000 for the text alone).
const MaxSectionText = 3000

// Caps for user-supplied values, in characters after escaping. With the
// fixed words of the longest message they stay under MaxSectionText, so a
// message is never rejected for its length.
const (
	maxName   = 150 // project and channel names
	maxKey    = 300
	maxInfo   = 2000
	maxAction = 150
	maxReason = 1000
)

const ellipsis = "…"

// Payload is the JSON body posted to an incoming webhook. Slack shows the
// blocks and uses Text for notifications.
type Payload struct {
	Text   string        `json:"text"`
	Blocks []slack.Block `json:"blocks"`
}

// JSON encodes the payload.
func (p Payload) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encode slack payload: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Details is what a message needs besides the event itself.
type Details struct {
	ProjectName string
	Info        string    // the approval's info; empty leaves out the Info line
	ExpiresAt   time.Time // the approval's expiry; zero leaves out the Expires line
	// Buttons, set for an interactive channel, adds to "Approval created"
	// the approval's buttons (or the word that its PIN needs the link).
	Buttons *Buttons
	// DecidedBy, when known, adds to "Approval executed" who decided.
	DecidedBy *Decider
}

// Message returns the notification for ev in the words of the product page.
func Message(ev event.Event, d Details) (Payload, error) {
	project := escapeLine(d.ProjectName, maxName)
	lines := make([]string, 0, 4)
	switch ev.Type {
	case event.ApprovalCreated:
		lines = append(lines, "🔔 New approval request in "+project, keyLine(ev))
		if strings.TrimSpace(d.Info) != "" {
			lines = append(lines, "Info: "+escape(d.Info, maxInfo))
		}
		if !d.ExpiresAt.IsZero() {
			lines = append(lines, "Expires: "+d.ExpiresAt.UTC().Format(time.RFC3339))
		}
	case event.ApprovalExecuted:
		lines = append(lines, "✅ Approval executed in "+project, keyLine(ev))
		if ev.Action != nil {
			lines = append(lines, "Action: "+escapeLine(*ev.Action, maxAction))
		}
	case event.ApprovalExpired:
		lines = append(lines, "⏳ Approval expired in "+project, keyLine(ev))
	case event.ApprovalExpiring:
		// Not one of the product page's six: its words follow theirs.
		lines = append(lines, "⏰ Approval expiring soon in "+project, keyLine(ev))
		if !d.ExpiresAt.IsZero() {
			lines = append(lines, "Expires: "+d.ExpiresAt.UTC().Format(time.RFC3339))
		}
	case event.ApprovalInvalidated:
		lines = append(lines, "❌ Approval invalidated in "+project, keyLine(ev))
		if ev.Reason != nil && strings.TrimSpace(*ev.Reason) != "" {
			lines = append(lines, "Reason: "+escapeLine(*ev.Reason, maxReason))
		}
	case event.PinFailed:
		lines = append(lines, "🔐 PIN verification failed in "+project, keyLine(ev))
		if ev.Attempts != nil {
			attempts := "Attempts: " + strconv.Itoa(*ev.Attempts)
			if ev.MaxAttempts != nil {
				attempts += " of " + strconv.Itoa(*ev.MaxAttempts)
			}
			lines = append(lines, attempts)
		}
	case event.TokenLocked:
		reason := event.LockedReason
		if ev.Reason != nil && strings.TrimSpace(*ev.Reason) != "" {
			reason = *ev.Reason
		}
		lines = append(lines, "🔒 Approval locked in "+project, keyLine(ev), "Reason: "+escapeLine(reason, maxReason))
	default:
		return Payload{}, fmt.Errorf("slack message: unknown event type %q", ev.Type)
	}
	// Extras go after the seed's lines, never inside them.
	if ev.Type == event.ApprovalExecuted && d.DecidedBy != nil {
		lines = append(lines, d.DecidedBy.line())
	}
	p := payload(lines)
	if ev.Type == event.ApprovalCreated && d.Buttons != nil {
		p.Blocks = append(p.Blocks, d.Buttons.blocks()...)
	}
	return p, nil
}

// TestMessage returns the message sent by a channel's "Test" button.
func TestMessage(projectName, channelName string) Payload {
	return payload([]string{
		"👋 Test message from Ottr for " + escapeLine(projectName, maxName),
		"Channel: " + escapeLine(channelName, maxName),
		"If you can see this, notifications to this channel work.",
	})
}

func keyLine(ev event.Event) string { return "Key: " + escapeLine(ev.KeyPath, maxKey) }

func payload(lines []string) Payload {
	text := strings.Join(lines, "\n")
	section := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, true), nil, nil)
	return Payload{Text: text, Blocks: []slack.Block{section}}
}

// escapeLine is escape for values shown on one line: line breaks and
// other control characters become spaces, so a value cannot forge further
// lines of the message.
func escapeLine(s string, max int) string {
	return escape(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s), max)
}

// escape makes s safe for Slack mrkdwn: &, < and > become entities, so
// "<!channel>" or "<https://evil|click>" shows literally. A value longer
// than max characters once escaped is cut before escaping and ends with
// "…", so an entity is never split. Characters are counted as UTF-16 code
// units, which never undercounts.
func escape(s string, max int) string {
	s = strings.TrimSpace(s)
	total := 0
	for _, r := range s {
		_, w := escapeRune(r)
		total += w
	}
	if total <= max {
		return mrkdwnEscaper.Replace(s)
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		piece, w := escapeRune(r)
		if n+w > max-1 {
			break
		}
		b.WriteString(piece)
		n += w
	}
	return b.String() + ellipsis
}

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escapeRune returns r escaped and its width in UTF-16 code units.
func escapeRune(r rune) (string, int) {
	switch r {
	case '&':
		return "&amp;", 5
	case '<':
		return "&lt;", 4
	case '>':
		return "&gt;", 4
	}
	return string(r), utf16.RuneLen(r)
}
