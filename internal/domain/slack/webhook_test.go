package slack

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	long := "https://hooks.slack.com/services/T000/B000/" + strings.Repeat("x", 500)
	cases := []struct {
		name     string
		prefixes []string
		url      string
		ok       bool
	}{
		{"classic", nil, "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", true},
		{"surrounding spaces", nil, "  https://hooks.slack.com/services/T1/B2/abc \n", true},
		{"empty", nil, "", false},
		{"http on slack", nil, "http://hooks.slack.com/services/T1/B2/abc", false},
		{"lookalike host", nil, "https://hooks.slack.com.evil.test/services/T1/B2/abc", false},
		{"user info", nil, "https://hooks.slack.com@evil.test/services/T1/B2/abc", false},
		{"user info before slack", nil, "https://user:pw@hooks.slack.com/services/T1/B2/abc", false},
		{"fragment", nil, "https://hooks.slack.com/services/T1/B2/abc#x", false},
		{"query", nil, "https://hooks.slack.com/services/T1/B2/abc?x=1", false},
		{"empty query", nil, "https://hooks.slack.com/services/T1/B2/abc?", false},
		{"too long", nil, long, false},
		{"two segments", nil, "https://hooks.slack.com/services/T1/B2", false},
		{"four segments", nil, "https://hooks.slack.com/services/T1/B2/abc/d", false},
		{"trailing slash", nil, "https://hooks.slack.com/services/T1/B2/abc/", false},
		{"team not T", nil, "https://hooks.slack.com/services/X1/B2/abc", false},
		{"channel not B", nil, "https://hooks.slack.com/services/T1/C2/abc", false},
		{"empty secret", nil, "https://hooks.slack.com/services/T1/B2/", false},
		{"dot segments", nil, "https://hooks.slack.com/services/T1/B2/../../x", false},
		{"escaped slash", nil, "https://hooks.slack.com/services/T1/B2/a%2Fb", false},
		{"nested services", nil, "https://hooks.slack.com/services/x/services/T1/B2/abc", false},
		{"other port", nil, "https://hooks.slack.com:8443/services/T1/B2/abc", false},
		{"other host", nil, "https://example.com/services/T1/B2/abc", false},
		{"workflow url", nil, "https://hooks.slack.com/workflows/T1/A2/123/abc", false},
		{"configured test server", []string{defaultPrefix, "http://127.0.0.1:8099/"}, "http://127.0.0.1:8099/services/T1/B2/abc", true},
		{"test server other port", []string{defaultPrefix, "http://127.0.0.1:8099/"}, "http://127.0.0.1:80990/services/T1/B2/abc", false},
		{"prefix without slash", []string{"http://127.0.0.1:8099"}, "http://127.0.0.1:80990/services/T1/B2/abc", false},
		{"default dropped", []string{"http://127.0.0.1:8099/"}, "https://hooks.slack.com/services/T1/B2/abc", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Validator{Prefixes: tc.prefixes}.Validate(tc.url)
			if tc.ok {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate = %v, want *FieldError", err)
			}
			if fe.Field != "webhookUrl" {
				t.Errorf("Field = %q", fe.Field)
			}
			if tc.url != "" && strings.Contains(fe.Error(), strings.TrimSpace(tc.url)) {
				t.Errorf("message echoes the URL: %q", fe.Error())
			}
		})
	}
}

func TestValidateMessage(t *testing.T) {
	t.Parallel()
	err := Validator{}.Validate("https://example.com/services/T1/B2/topsecret")
	want := "webhook URL must start with https://hooks.slack.com/services/ and look like https://hooks.slack.com/services/T000/B000/XXXX"
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Message != want {
		t.Fatalf("got %v, want message %q", err, want)
	}
	// Configured extra prefixes, such as an internal test host, are never
	// listed: the message says only what is publicly expected.
	internal := Validator{Prefixes: []string{defaultPrefix, "http://10.1.2.3:8099/", "https://relay.internal.test/"}}
	for _, raw := range []string{"https://example.com/services/T1/B2/topsecret", "http://10.1.2.3:8099/nope", ""} {
		err = internal.Validate(raw)
		if !errors.As(err, &fe) || fe.Message != want {
			t.Errorf("with extra prefixes, %q: got %v, want message %q", raw, err, want)
		}
	}
	err = Validator{Prefixes: []string{"http://10.1.2.3:8099/"}}.Validate("https://example.com/x")
	if !errors.As(err, &fe) || fe.Message != want {
		t.Errorf("without the default prefix: got %v, want message %q", err, want)
	}
	err = Validator{}.Validate("https://hooks.slack.com/services/T000/B000/" + strings.Repeat("s", 500))
	if !errors.As(err, &fe) || fe.Message != "webhook URL must be at most 500 characters" {
		t.Fatalf("too long: got %v", err)
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"https://hooks.slack.com/services/T0000/B0000/XXXXXXXX":  "https://hooks.slack.com/services/T0000/B0000/••••",
		"http://127.0.0.1:8099/services/T1/B2/secret":            "http://127.0.0.1:8099/services/T1/B2/••••",
		"http://127.0.0.1:8099/base/services/T1/B2/secret":       "http://127.0.0.1:8099/base/services/T1/B2/••••",
		"https://user:pw@hooks.slack.com/services/T1/B2/s?q=1#f": "https://hooks.slack.com/services/T1/B2/••••",
		"https://example.com/some/secret/path":                   "https://example.com/••••",
		"not a url":                                              "••••",
		"":                                                       "••••",
		"https://hooks.slack.com/%zz":                            "••••",
	}
	for in, want := range cases {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAllowsInternal(t *testing.T) {
	t.Parallel()
	v := Validator{Prefixes: []string{defaultPrefix, "http://LocalHost:8099/", "https://hooks.slack.com/other/", "https://fake.test/"}}
	cases := map[string]bool{
		"http://localhost:8099/services/T1/B2/s":   true,
		"http://127.0.0.1:8099/services/T1/B2/s":   false,
		"http://localhost:8098/services/T1/B2/s":   false,
		"https://fake.test/services/T1/B2/s":       true,
		"https://fake.test:443/services/T1/B2/s":   true,
		"http://fake.test/services/T1/B2/s":        false,
		"https://hooks.slack.com/services/T1/B2/s": false,
	}
	for raw, want := range cases {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.AllowsInternal(u); got != want {
			t.Errorf("AllowsInternal(%s) = %v, want %v", raw, got, want)
		}
	}
	u, _ := url.Parse("https://hooks.slack.com/services/T1/B2/s")
	if (Validator{}).AllowsInternal(u) {
		t.Error("default validator allows internal addresses")
	}
}
