package webhook_test

import (
	"slices"
	"testing"

	"github.com/ottr/backend/internal/domain/webhook"
)

func TestInternalHostsNameEachPrefixWithItsPort(t *testing.T) {
	p := webhook.Policy{Prefixes: []string{
		"http://127.0.0.1:8080/hooks/", // explicit port
		"https://Relay.Internal/",      // https's port, lower case
		"http://10.0.0.7",              // http's port
		"ftp://files.internal/",        // no port of ours: not dialled
		"/relative",                    // no host
		"http://[::1",                  // not a URL
	}}
	want := []string{"127.0.0.1:8080", "relay.internal:443", "10.0.0.7:80"}
	if got := p.InternalHosts(); !slices.Equal(got, want) {
		t.Fatalf("InternalHosts() = %q, want %q", got, want)
	}
}
