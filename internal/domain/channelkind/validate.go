package channelkind

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/apperr"
)

// MaxName is the longest name of a channel of any kind, in characters.
const MaxName = 80

// validateName trims a name and requires 1 to MaxName characters; noun
// names it in the message ("channel name").
func validateName(noun, name string) (string, error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > MaxName {
		return "", apperr.Invalid("name", "%s must be 1 to %d characters", noun, MaxName)
	}
	return name, nil
}

// ValidateEvents requires at least one known event type and returns the
// selection without duplicates, in event.AllTypes order.
func ValidateEvents(types []event.Type) (EventSet, error) {
	for _, t := range types {
		if !t.Valid() {
			return nil, apperr.Invalid("events", "unknown event type %q", t)
		}
	}
	var out EventSet
	for _, t := range event.AllTypes {
		if slices.Contains(types, t) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, apperr.Invalid("events", "select at least one event type")
	}
	return out, nil
}
