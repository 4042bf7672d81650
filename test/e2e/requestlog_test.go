package e2e_test

import (
	"regexp"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/tools/testserver"
)

// A request's log line names its route as the metrics do, its duration in
// milliseconds and, on /query, the operation; passing health probes log
// at debug level only.
func TestRequestLogLines(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite)
	srv.Client("").MustDo(`query Deploy { __typename }`, nil, nil)
	get(t, srv, "/healthz")
	get(t, srv, "/readyz")
	get(t, srv, "/v1/nothing")
	logs := srv.Logs.String()
	for _, want := range []string{
		`level=INFO msg=request request_id=[0-9a-f]{16} method=POST route=/query status=200 took_ms=[0-9]+\.?[0-9]* ip=127\.0\.0\.1 operation="query Deploy"`,
		`level=DEBUG msg=request request_id=\S+ method=GET route=/healthz status=200 `,
		`level=DEBUG msg=request request_id=\S+ method=GET route=/readyz status=200 `,
		`level=INFO msg=request request_id=\S+ method=GET route=/v1/ status=404 `,
	} {
		if !regexp.MustCompile(want).MatchString(logs) {
			t.Errorf("no log line matches %s:\n%s", want, logs)
		}
	}
}
