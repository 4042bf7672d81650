package slack

import "testing"

func TestResponseURLAllowed(t *testing.T) {
	t.Parallel()
	slackOnly := []string{"https://hooks.slack.com/actions/"}
	for url, ok := range map[string]bool{
		"https://hooks.slack.com/actions/T0MJR11A4/1234567890/AbCdEf": true,
		"https://HOOKS.slack.com/actions/T0MJR11A4/1/x":               false, // the text must start with the prefix
		"http://hooks.slack.com/actions/T0MJR11A4/1/x":                false,
		"https://hooks.slack.com/services/T1/B1/x":                    false,
		"https://hooks.slack.com.evil.example/actions/T1/1/x":         false,
		"https://hooks.slack.com/actions/../services/T1/B1/x":         false,
		"https://hooks.slack.com/actions/./T1/1/x":                    false,
		"https://hooks.slack.com/actions/%2e%2e/services/T1/B1/x":     false,
		"https://hooks.slack.com/actions/T1%2F..%2Fservices/1/x":      false,
		"https://hooks.slack.com/actions/T1%5c1/x":                    false,
		"https://hooks.slack.com/actions//T1/1/x":                     false,
		"https://hooks.slack.com/actions/T1/1/x?redirect=1":           false,
		"https://hooks.slack.com/actions/T1/1/x#frag":                 false,
		"https://user@hooks.slack.com/actions/T1/1/x":                 false,
		"https://hooks.slack.com/actions/T1/1/x\\y":                   false,
	} {
		if got := ResponseURLAllowed(url, slackOnly); got != ok {
			t.Errorf("ResponseURLAllowed(%q) = %v, want %v", url, got, ok)
		}
	}
}
