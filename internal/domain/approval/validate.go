package approval

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ottr/backend/internal/platform/apperr"
)

// Input limits, in characters.
const (
	MaxPathLen        = 200
	MaxValueLen       = 1000
	MaxInfoLen        = 2000
	MaxRefIDLen       = 200
	MaxReasonLen      = 1000
	MaxActions        = 3
	MaxActionKeyLen   = 40
	MaxActionLabelLen = 40
)

// Time to live and PIN limits.
const (
	DefaultTTL            = 600 * time.Second
	MinTTL                = 10 * time.Second
	MaxTTL                = 30 * 24 * time.Hour
	DefaultMaxPinAttempts = 5
	MaxMaxPinAttempts     = 10
	MinPinLen             = 4
	MaxPinLen             = 12
)

// keyPathPattern: segments of [A-Za-z0-9._-] joined by single slashes, no
// slash at either end.
var keyPathPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)

// validateKeyPath checks a key path; field names the input it came from.
func validateKeyPath(field, path string) error {
	if n := utf8.RuneCountInString(path); n < 1 || n > MaxPathLen {
		return apperr.Invalid(field, "%s must be 1 to %d characters", field, MaxPathLen)
	}
	if !keyPathPattern.MatchString(path) {
		return apperr.Invalid(field, "%s must be segments of letters, digits, '.', '_' or '-' separated by single '/', with no '/' at either end", field)
	}
	// "." and ".." would let a/../b name b in URLs, where paths are
	// cleaned, and something else in the store.
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			return apperr.Invalid(field, "%s must not have a segment that is only '.' or '..'", field)
		}
	}
	return nil
}

func checkLength(field, s string, max int) error {
	if utf8.RuneCountInString(s) > max {
		return apperr.Invalid(field, "%s must be at most %d characters", field, max)
	}
	return nil
}

// validPIN: 4 to 12 ASCII digits.
func validPIN(pin string) bool {
	if len(pin) < MinPinLen || len(pin) > MaxPinLen {
		return false
	}
	return strings.Trim(pin, "0123456789") == ""
}

// CreateInput is what createApproval takes. Exactly one of Value (the
// simple form) and Actions (the full form) is given.
type CreateInput struct {
	KeyPath        string
	Value          *string
	Actions        []ActionInput // nil: not given
	TTLSeconds     *int
	InitialValue   *string
	Info           *string
	RefID          *string
	Pin            *string
	MaxPinAttempts *int
	// AllowLink is whether the link may be used to decide; nil: true.
	AllowLink *bool
	// Deciders names, by user id or e-mail, the members who may decide
	// from the dashboard; nil: any member whose role may decide.
	Deciders []string
	// CallbackURL, when given, receives every event of the approval as a
	// signed request (see Callbacks).
	CallbackURL *string
}

// MaxDeciders caps CreateInput.Deciders.
const MaxDeciders = 50

// ActionInput is one action of the full form; Label defaults to the key and
// Style to DEFAULT.
type ActionInput struct {
	Key   string
	Value string
	Label *string
	Style *Style
}

// settings is a validated CreateInput.
type settings struct {
	actions        []Action
	ttl            time.Duration
	maxPinAttempts int
}

// validate checks every field and reports every problem found, not only
// the first.
func (in CreateInput) validate() (settings, error) {
	var out settings
	var problems apperr.Problems
	problems.Add(in.checkTexts())
	problems.Add(validateKeyPath("keyPath", in.KeyPath))
	var err error
	if out.actions, err = in.validActions(); err != nil {
		problems.Add(err)
	}
	out.ttl = DefaultTTL
	if in.TTLSeconds != nil {
		if *in.TTLSeconds < int(MinTTL/time.Second) || *in.TTLSeconds > int(MaxTTL/time.Second) {
			problems.Add(apperr.Invalid("ttlSeconds", "ttlSeconds must be %d to %d (30 days), not %d", int(MinTTL/time.Second), int(MaxTTL/time.Second), *in.TTLSeconds))
		}
		out.ttl = time.Duration(*in.TTLSeconds) * time.Second
	}
	for _, f := range []struct {
		name string
		v    *string
		max  int
	}{{"initialValue", in.InitialValue, MaxValueLen}, {"info", in.Info, MaxInfoLen}, {"refId", in.RefID, MaxRefIDLen}} {
		if f.v != nil {
			problems.Add(checkLength(f.name, *f.v, f.max))
		}
	}
	if len(in.Deciders) > MaxDeciders {
		problems.Add(apperr.Invalid("deciders", "deciders must name at most %d members", MaxDeciders))
	}
	if in.Pin != nil && !validPIN(*in.Pin) {
		problems.Add(apperr.Invalid("pin", "pin must be %d to %d digits", MinPinLen, MaxPinLen))
	}
	out.maxPinAttempts = DefaultMaxPinAttempts
	if in.MaxPinAttempts != nil {
		out.maxPinAttempts = *in.MaxPinAttempts
		if out.maxPinAttempts < 1 || out.maxPinAttempts > MaxMaxPinAttempts {
			problems.Add(apperr.Invalid("maxPinAttempts", "maxPinAttempts must be 1 to %d", MaxMaxPinAttempts))
		}
	}
	return out, problems.Err()
}

// checkTexts refuses NUL characters and bytes that are not UTF-8 in every
// text of the input.
func (in CreateInput) checkTexts() error {
	var p apperr.Problems
	p.Add(apperr.CheckText("keyPath", in.KeyPath))
	for _, f := range []struct {
		name string
		v    *string
	}{{"value", in.Value}, {"initialValue", in.InitialValue}, {"info", in.Info}, {"refId", in.RefID}, {"pin", in.Pin}} {
		if f.v != nil {
			p.Add(apperr.CheckText(f.name, *f.v))
		}
	}
	for _, d := range in.Deciders {
		p.Add(apperr.CheckText("deciders", d))
	}
	for _, a := range in.Actions {
		p.Add(apperr.CheckText("actions", a.Key))
		p.Add(apperr.CheckText("actions", a.Value))
		if a.Label != nil {
			p.Add(apperr.CheckText("actions", *a.Label))
		}
	}
	return p.Err()
}

// validActions turns the simple or the full form into the actions.
func (in CreateInput) validActions() ([]Action, error) {
	switch {
	case in.Value != nil && in.Actions != nil:
		return nil, apperr.Invalid("actions", "give either value or actions, not both")
	case in.Value != nil:
		if err := checkLength("value", *in.Value, MaxValueLen); err != nil {
			return nil, err
		}
		return []Action{{Key: "approve", Value: *in.Value, Label: "Approve", Style: StylePrimary}}, nil
	case in.Actions == nil:
		return nil, apperr.Invalid("value", "give either value (one action) or actions")
	}
	if n := len(in.Actions); n < 1 || n > MaxActions {
		return nil, apperr.Invalid("actions", "actions must be 1 to %d actions", MaxActions)
	}
	actions := make([]Action, 0, len(in.Actions))
	for _, a := range in.Actions {
		if n := utf8.RuneCountInString(a.Key); n < 1 || n > MaxActionKeyLen {
			return nil, apperr.Invalid("actions", "an action's key must be 1 to %d characters", MaxActionKeyLen)
		}
		if _, dup := findAction(actions, a.Key); dup {
			return nil, apperr.Invalid("actions", "action keys must be unique; %q appears twice", a.Key)
		}
		if utf8.RuneCountInString(a.Value) > MaxValueLen {
			return nil, apperr.Invalid("actions", "an action's value must be at most %d characters", MaxValueLen)
		}
		act := Action{Key: a.Key, Value: a.Value, Label: a.Key, Style: StyleDefault}
		if a.Label != nil && strings.TrimSpace(*a.Label) != "" {
			act.Label = *a.Label
			if utf8.RuneCountInString(act.Label) > MaxActionLabelLen {
				return nil, apperr.Invalid("actions", "an action's label must be at most %d characters", MaxActionLabelLen)
			}
		}
		if a.Style != nil {
			switch *a.Style {
			case StyleDefault, StylePrimary, StyleDanger:
				act.Style = *a.Style
			default:
				return nil, apperr.Invalid("actions", "unknown action style %q", *a.Style)
			}
		}
		actions = append(actions, act)
	}
	return actions, nil
}
