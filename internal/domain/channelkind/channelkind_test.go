package channelkind

import (
	"slices"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/apperr"
)

// wantInput checks that err is nil when field is "", and otherwise a
// BAD_USER_INPUT on field whose message holds msg.
func wantInput(t *testing.T, err error, field, msg string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("got %v, want no error", err)
		}
		return
	}
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.CodeBadUserInput || e.Field != field || !strings.Contains(e.Message, msg) {
		t.Fatalf("got %v, want BAD_USER_INPUT on %s saying %q", err, field, msg)
	}
}

// TestValidateTexts covers the rules of the shared text fields: the name
// and the ordering.
func TestValidateTexts(t *testing.T) {
	name := func(in string) (string, error) { return validateName("channel name", in) }
	ordering := func(in string) (string, error) {
		o, err := ParseOrdering("ordering", in)
		return string(o), err
	}
	const nameRule, orderingRule = "channel name must be 1 to 80 characters", "ordering must be PER_APPROVAL or NONE"
	for _, tc := range []struct {
		check           func(string) (string, error)
		in, want, field string
		rule            string
	}{
		{name, "deploys", "deploys", "", ""},
		{name, "  trimmed\t", "trimmed", "", ""},
		{name, strings.Repeat("é", MaxName), strings.Repeat("é", MaxName), "", ""}, // characters, not bytes
		{name, "", "", "name", nameRule},
		{name, "   ", "", "name", nameRule},
		{name, strings.Repeat("x", MaxName+1), "", "name", nameRule},
		{ordering, "", string(DefaultOrdering), "", ""},
		{ordering, "PER_APPROVAL", string(OrderPerApproval), "", ""},
		{ordering, "NONE", string(OrderNone), "", ""},
		{ordering, "none", "", "ordering", orderingRule},
		{ordering, "FIFO", "", "ordering", orderingRule},
	} {
		got, err := tc.check(tc.in)
		wantInput(t, err, tc.field, tc.rule)
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestValidateEvents(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         []event.Type
		want       EventSet
		field, msg string
	}{
		{"in AllTypes order, once each", []event.Type{event.TokenLocked, event.ApprovalCreated, event.TokenLocked},
			EventSet{event.ApprovalCreated, event.TokenLocked}, "", ""},
		{"all", event.AllTypes, EventSet(event.AllTypes), "", ""},
		{"none", nil, nil, "events", "select at least one event type"},
		{"unknown", []event.Type{event.ApprovalCreated, "APPROVAL_EATEN"}, nil, "events", `unknown event type "APPROVAL_EATEN"`},
		{"lower case is not a type", []event.Type{"approval_created"}, nil, "events", "unknown event type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ValidateEvents(tc.in)
			wantInput(t, err, tc.field, tc.msg)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEventSetStoresAsText(t *testing.T) {
	for _, tc := range []struct {
		set  EventSet
		text string
	}{
		{nil, ""},
		{EventSet{event.ApprovalCreated}, "APPROVAL_CREATED"},
		{EventSet{event.ApprovalCreated, event.PinFailed}, "APPROVAL_CREATED,PIN_FAILED"},
	} {
		v, err := tc.set.Value()
		if err != nil || v != tc.text {
			t.Fatalf("Value(%v) = %v, %v; want %q", tc.set, v, err, tc.text)
		}
		for _, src := range []any{tc.text, []byte(tc.text)} {
			var back EventSet
			if err := back.Scan(src); err != nil || !slices.Equal(back, tc.set) {
				t.Fatalf("Scan(%#v) = %v, %v; want %v", src, back, err, tc.set)
			}
		}
	}
	var s EventSet
	if err := s.Scan(42); err == nil {
		t.Fatal("Scan of a number: no error")
	}
}

func TestEnableSet(t *testing.T) {
	plain := &Service[probeRow, *probeRow]{}
	reset := &Service[probeRow, *probeRow]{kind: Kind{ResetOnEnable: map[string]any{"failed_in_a_row": 0}}}
	for _, tc := range []struct {
		name    string
		s       *Service[probeRow, *probeRow]
		enabled bool
		want    map[string]any
	}{
		{"disable keeps the reason", plain, false, map[string]any{"enabled": false}},
		{"enable clears the reason", plain, true, map[string]any{"enabled": true, "disabled_reason": nil}},
		{"disable keeps the kind's columns", reset, false, map[string]any{"enabled": false}},
		{"enable resets the kind's columns", reset, true, map[string]any{"enabled": true, "disabled_reason": nil, "failed_in_a_row": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.s.EnableSet(tc.enabled)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || g != v {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// probeRow is the smallest row of a kind.
type probeRow struct {
	Common
	URLEnc     string
	KeyVersion int
}

func (r *probeRow) SealedURL() (*string, *int) { return &r.URLEnc, &r.KeyVersion }

func TestSealAndMask(t *testing.T) {
	s := &Service[probeRow, *probeRow]{keys: reverser{}, kind: Kind{Noun: "probe",
		CheckURL: func(raw string) error {
			if !strings.HasPrefix(raw, "https://") {
				return apperr.Invalid("url", "url must start with https://")
			}
			return nil
		},
		Mask: func(url string) string { return url[:len("https://")] + "…" }}}
	for _, tc := range []struct {
		in, field string
	}{
		{" https://example.com/hook ", ""},
		{"http://example.com/hook", "url"},
	} {
		r := &probeRow{}
		err := s.Seal(r, tc.in)
		wantInput(t, err, tc.field, "url must start with https://")
		if tc.field != "" {
			if r.URLEnc != "" {
				t.Fatalf("an invalid URL was sealed: %q", r.URLEnc)
			}
			continue
		}
		if r.URLEnc != "kooh/moc.elpmaxe//:sptth" || r.KeyVersion != 7 {
			t.Fatalf("sealed %q (key %d): not the trimmed URL encrypted", r.URLEnc, r.KeyVersion)
		}
		if err := s.Mask(r); err != nil || r.Masked != "https://…" {
			t.Fatalf("Mask: %q, %v", r.Masked, err)
		}
		set := map[string]any{}
		s.kind.URLColumn, s.kind.KeyVersionColumn = "url_enc", "key_version"
		s.SetURL(r, set)
		if set["url_enc"] != r.URLEnc || set["key_version"] != 7 {
			t.Fatalf("SetURL: %v", set)
		}
	}
}

// reverser "encrypts" by reversing, with key version 7.
type reverser struct{}

func (reverser) Encrypt(p string) (string, int, error)   { return reverse(p), 7, nil }
func (reverser) Decrypt(c string, _ int) (string, error) { return reverse(c), nil }

func reverse(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}
