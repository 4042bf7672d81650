package apperr

import (
	"errors"
	"testing"
)

func TestCheckText(t *testing.T) {
	t.Parallel()
	for s, ok := range map[string]bool{
		"":               true,
		"plain":          true,
		"héllo, 世界 🦦":    true,
		"tab\tand\nline": true,
		"a\x00b":         false,
		"\x00":           false,
		"a\xffb":         false,
		"\xc3":           false, // a truncated two-byte sequence
		"\xed\xa0\x80":   false, // a UTF-16 surrogate, not a character
	} {
		err := CheckText("info", s)
		if ok != (err == nil) {
			t.Errorf("CheckText(%q) = %v, want ok %v", s, err, ok)
		}
		if e, isApp := As(err); err != nil && (!isApp || e.Code != CodeBadUserInput || e.Field != "info") {
			t.Errorf("CheckText(%q) = %#v, want BAD_USER_INPUT on info", s, err)
		}
	}
}

func TestProblemsKeepEveryFailureInOrder(t *testing.T) {
	t.Parallel()
	var p Problems
	if p.Err() != nil {
		t.Fatal("no problems, yet an error")
	}
	p.Add(nil)
	p.Add(Invalid("a", "a is bad"))
	if e, _ := As(p.Err()); e == nil || e.Field != "a" || len(e.Problems) != 0 {
		t.Fatalf("one problem: %#v, want it alone", p.Err())
	}
	p.Add(CheckTexts("b", "\x00", "c", "fine", "d", "\xff"))
	e, _ := As(p.Err())
	if e == nil || e.Code != CodeBadUserInput || len(e.Problems) != 3 ||
		e.Problems[0].Field != "a" || e.Problems[1].Field != "b" || e.Problems[2].Field != "d" || e.Field != "a" {
		t.Fatalf("three problems: %#v", e)
	}
	if p.Add(errors.New("database down")) || p.Add(NotFound("project")) {
		t.Fatal("Add took an error that is not BAD_USER_INPUT")
	}
}
