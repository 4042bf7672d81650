package rest_test

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/store"
	"github.com/ottr/backend/internal/store/storetest"
)

var linkLine = regexp.MustCompile(`https?://\S+/a/[A-Za-z0-9_-]+`)

// TestGitHubActionsScript runs the GitHub Actions step of the integration
// guide (testdata/github-actions.sh: bash and curl, nothing else) against
// the server, as a job would, while a person decides through the link it
// prints: Deploy lets the job go on (exit 0), Cancel stops it (exit 1).
func TestGitHubActionsScript(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: the script test runs it", tool)
		}
	}
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		for _, tc := range []struct {
			action, runID string
			exit          int
			says          string
		}{
			{"deploy", "4242", 0, "Approved: deploying."},
			{"cancel", "4243", 1, "Cancelled."},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			cmd := exec.CommandContext(ctx, "bash", "testdata/github-actions.sh")
			cmd.Env = append(os.Environ(), "OTTR_URL="+f.srv.URL, "OTTR_API_KEY="+f.write, "OTTR_POLL_SECONDS=1",
				"GITHUB_REPOSITORY=octo/web", "GITHUB_RUN_ID="+tc.runID, "GITHUB_RUN_ATTEMPT=1", "GITHUB_SHA=3f2a9c1")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				out.WriteString(sc.Text() + "\n")
				if link := linkLine.FindString(sc.Text()); link != "" {
					// The job polls the key meanwhile; a person decides.
					if status := f.execute(link, tc.action, ""); status != http.StatusOK {
						t.Fatalf("pressing %s: %d", tc.action, status)
					}
				}
			}
			err = cmd.Wait()
			cancel()
			if code := cmd.ProcessState.ExitCode(); code != tc.exit {
				t.Fatalf("%s: exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", tc.action, code, err, tc.exit, out.String(), stderr.String())
			}
			if !strings.Contains(out.String(), tc.says) || !linkLine.MatchString(out.String()) {
				t.Fatalf("%s: the job printed\n%s", tc.action, out.String())
			}
			var value *string
			f.do("GET", "/v1/key/deploy/octo/web/"+tc.runID, f.read, "").decode(t, http.StatusOK, &value)
			if value == nil || (*value != "approved" && *value != "rejected") {
				t.Fatalf("key reads %v", value)
			}
		}
	})
}
