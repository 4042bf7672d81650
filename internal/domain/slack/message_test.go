package slack

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/ottr/backend/internal/domain/event"
)

func ptr[T any](v T) *T { return &v }

func TestMessageTexts(t *testing.T) {
	t.Parallel()
	expires := time.Date(2025, 1, 1, 13, 30, 0, 0, time.FixedZone("CET", 3600))
	d := Details{ProjectName: "My Project", Info: "Deploy to production?", ExpiresAt: expires}
	ev := func(typ event.Type) event.Event { return event.Event{Type: typ, KeyPath: "myapp/deploy"} }
	cases := []struct {
		name string
		ev   event.Event
		d    Details
		want string
	}{
		{"created", ev(event.ApprovalCreated), d,
			"🔔 New approval request in My Project\nKey: myapp/deploy\nInfo: Deploy to production?\nExpires: 2025-01-01T12:30:00Z"},
		{"created without info", ev(event.ApprovalCreated), Details{ProjectName: "My Project", ExpiresAt: expires},
			"🔔 New approval request in My Project\nKey: myapp/deploy\nExpires: 2025-01-01T12:30:00Z"},
		{"executed", event.Event{Type: event.ApprovalExecuted, KeyPath: "myapp/deploy", Action: ptr("approve")}, d,
			"✅ Approval executed in My Project\nKey: myapp/deploy\nAction: approve"},
		{"expired", ev(event.ApprovalExpired), d,
			"⏳ Approval expired in My Project\nKey: myapp/deploy"},
		{"expiring", ev(event.ApprovalExpiring), d,
			"⏰ Approval expiring soon in My Project\nKey: myapp/deploy\nExpires: 2025-01-01T12:30:00Z"},
		{"expiring without expiry", ev(event.ApprovalExpiring), Details{ProjectName: "My Project"},
			"⏰ Approval expiring soon in My Project\nKey: myapp/deploy"},
		{"invalidated", ev(event.ApprovalInvalidated), d,
			"❌ Approval invalidated in My Project\nKey: myapp/deploy"},
		{"invalidated with reason", event.Event{Type: event.ApprovalInvalidated, KeyPath: "myapp/deploy", Reason: ptr("superseded")}, d,
			"❌ Approval invalidated in My Project\nKey: myapp/deploy\nReason: superseded"},
		{"pin failed", event.Event{Type: event.PinFailed, KeyPath: "myapp/deploy", Attempts: ptr(3), MaxAttempts: ptr(5)}, d,
			"🔐 PIN verification failed in My Project\nKey: myapp/deploy\nAttempts: 3 of 5"},
		{"locked", event.Event{Type: event.TokenLocked, KeyPath: "myapp/deploy", Attempts: ptr(5), MaxAttempts: ptr(5), Reason: ptr(event.LockedReason)}, d,
			"🔒 Approval locked in My Project\nKey: myapp/deploy\nReason: Too many failed PIN attempts"},
		{"locked without reason", ev(event.TokenLocked), d,
			"🔒 Approval locked in My Project\nKey: myapp/deploy\nReason: Too many failed PIN attempts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Message(tc.ev, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if p.Text != tc.want {
				t.Errorf("text:\n%s\nwant:\n%s", p.Text, tc.want)
			}
			checkPayload(t, p)
		})
	}
}

// checkPayload checks the JSON sent to Slack: the text, and one section
// block with the same text as verbatim mrkdwn.
func checkPayload(t *testing.T, p Payload) {
	t.Helper()
	raw, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text struct {
				Type     string `json:"type"`
				Text     string `json:"text"`
				Verbatim bool   `json:"verbatim"`
			} `json:"text"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("payload %s: %v", raw, err)
	}
	if got.Text != p.Text || len(got.Blocks) != 1 {
		t.Fatalf("payload %s", raw)
	}
	b := got.Blocks[0]
	if b.Type != "section" || b.Text.Type != "mrkdwn" || b.Text.Text != p.Text || !b.Text.Verbatim {
		t.Errorf("block %+v", b)
	}
}

func TestTestMessage(t *testing.T) {
	t.Parallel()
	p := TestMessage("My Project", "ops-alerts")
	want := "👋 Test message from Ottr for My Project\nChannel: ops-alerts\nIf you can see this, notifications to this channel work."
	if p.Text != want {
		t.Errorf("text:\n%s\nwant:\n%s", p.Text, want)
	}
	checkPayload(t, p)
}

func TestMessageUnknownType(t *testing.T) {
	t.Parallel()
	if _, err := Message(event.Event{Type: "NOPE"}, Details{}); err == nil {
		t.Error("unknown event type accepted")
	}
}

func TestMessageEscapes(t *testing.T) {
	t.Parallel()
	p, err := Message(event.Event{
		Type:    event.ApprovalInvalidated,
		KeyPath: "a&b/<!here>",
		Reason:  ptr("<https://evil|click>"),
	}, Details{ProjectName: "<!channel> & co"})
	if err != nil {
		t.Fatal(err)
	}
	want := "❌ Approval invalidated in &lt;!channel&gt; &amp; co\nKey: a&amp;b/&lt;!here&gt;\nReason: &lt;https://evil|click&gt;"
	if p.Text != want {
		t.Errorf("text:\n%s\nwant:\n%s", p.Text, want)
	}
	raw, _ := p.JSON()
	for _, bad := range []string{"<!channel>", "<!here>", "<https://"} {
		if strings.Contains(string(raw), bad) {
			t.Errorf("payload contains %q: %s", bad, raw)
		}
	}

	p = TestMessage("x", "<!everyone>")
	if !strings.Contains(p.Text, "Channel: &lt;!everyone&gt;\n") {
		t.Errorf("channel name not escaped: %q", p.Text)
	}
}

func TestMessageOneLineValues(t *testing.T) {
	t.Parallel()
	p, err := Message(event.Event{Type: event.ApprovalExecuted, KeyPath: "k\nAction: approve", Action: ptr("deny")},
		Details{ProjectName: "P\r\nQ", Info: "ignored"})
	if err != nil {
		t.Fatal(err)
	}
	want := "✅ Approval executed in P  Q\nKey: k Action: approve\nAction: deny"
	if p.Text != want {
		t.Errorf("text:\n%q\nwant:\n%q", p.Text, want)
	}
	p, _ = Message(event.Event{Type: event.ApprovalCreated, KeyPath: "k"}, Details{ProjectName: "P", Info: "line 1\nline 2"})
	if p.Text != "🔔 New approval request in P\nKey: k\nInfo: line 1\nline 2" {
		t.Errorf("multi-line info: %q", p.Text)
	}
}

func TestEscapeTruncates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"a<b", 5, "a…"},
		{"a<b", 6, "a&lt;b"},
		{"a<bc", 6, "a&lt;…"},
		{"ab<c", 6, "ab…"},
		{"&&&&", 11, "&amp;&amp;…"},
		{"😀😀😀", 5, "😀😀…"},
		{"😀😀😀", 6, "😀😀😀"},
	}
	for _, tc := range cases {
		if got := escape(tc.in, tc.max); got != tc.want {
			t.Errorf("escape(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestMessageLongValuesFit(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("<&😀>", 20000)
	d := Details{ProjectName: huge, Info: huge, ExpiresAt: time.Now()}
	for _, typ := range event.AllTypes {
		ev := event.Event{Type: typ, KeyPath: huge, Action: &huge, Reason: &huge, Attempts: ptr(1), MaxAttempts: ptr(5)}
		p, err := Message(ev, d)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(utf16.Encode([]rune(p.Text))); n > MaxSectionText {
			t.Errorf("%s: %d characters, more than %d", typ, n, MaxSectionText)
		}
		if !strings.Contains(p.Text, "…") {
			t.Errorf("%s: no ellipsis", typ)
		}
		for _, line := range strings.Split(p.Text, "\n") {
			if i := strings.LastIndex(line, "&"); i >= 0 && !strings.Contains(line[i:], ";") {
				t.Errorf("%s: split entity at end of %q", typ, line[max(0, len(line)-20):])
			}
		}
	}
	p := TestMessage(huge, huge)
	if n := len(utf16.Encode([]rune(p.Text))); n > MaxSectionText {
		t.Errorf("test message: %d characters", n)
	}
}
