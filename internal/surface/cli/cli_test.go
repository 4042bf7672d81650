package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/surface/cli"
	"github.com/ottr/backend/internal/tools/testserver"
)

type fixture struct {
	t           *testing.T
	srv         *testserver.Server
	write, read string
}

func setup(t *testing.T, d store.Dialect) *fixture {
	t.Helper()
	srv := testserver.Start(t, d)
	owner := srv.SignUp("Owner")
	pid := owner.CreateProject("ci")
	_, write := owner.CreateAPIKey(pid, "WRITE")
	_, read := owner.CreateAPIKey(pid, "READ")
	return &fixture{t: t, srv: srv, write: write, read: read}
}

// result is a finished command.
type result struct {
	code           int
	stdout, stderr string
}

// run runs ottr with args and key; onLink, when not nil, is called on its
// own goroutine with the first line of output (the link) while the command
// goes on.
func (f *fixture) run(key string, onLink func(link string), args ...string) result {
	f.t.Helper()
	env := map[string]string{"OTTR_URL": f.srv.URL, "OTTR_API_KEY": key}
	pr, pw := io.Pipe()
	var stdout strings.Builder
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		first := true
		for sc.Scan() {
			stdout.WriteString(sc.Text() + "\n")
			if first && onLink != nil {
				go onLink(sc.Text())
			}
			first = false
		}
	}()
	var stderr strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := cli.Run(ctx, args, pw, &stderr, func(k string) string { return env[k] })
	pw.Close()
	<-read
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// press returns an onLink that executes action through the link's page.
func (f *fixture) press(action string) func(string) {
	return func(link string) {
		if !f.waiting() {
			return
		}
		if status, err := f.srv.ExecuteLink(link, action, ""); err != nil || status != http.StatusOK {
			f.t.Errorf("execute %s: %d %v", action, status, err)
		}
	}
}

// waiting returns once the command's long-poll is under way: its live
// stream has subscribed to the server's feed, so a decision made now
// reaches the wait rather than the first read. This server has no other
// subscriber.
func (f *fixture) waiting() bool {
	deadline := time.Now().Add(30 * time.Second)
	for f.srv.App.Feed.Broker().Empty() {
		if time.Now().After(deadline) {
			f.t.Error("the command did not start waiting within 30 s")
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

func (r result) expect(t *testing.T, code int, stdout ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(stdout) > 0 && len(lines) != len(stdout) {
		t.Fatalf("stdout %q, want %d lines", r.stdout, len(stdout))
	}
	for i, want := range stdout {
		if want != "*" && lines[i] != want {
			t.Errorf("stdout line %d %q, want %q", i+1, lines[i], want)
		}
	}
}

func TestApprovalCreateWait(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		deploy := []string{"approval", "create", "--key", "deploy/web/run-1", "--ttl", "30m", "--info", "Deploy web?",
			"--action", "deploy=approved:Deploy:primary", "--action", "cancel=rejected:Cancel:danger", "--wait", "--timeout", "1m"}

		r := f.run(f.write, f.press("deploy"), deploy...)
		r.expect(t, cli.ExitApproved, "*", "approved")
		if !strings.HasPrefix(r.stdout, f.srv.URL+"/a/") {
			t.Fatalf("first line is not the link: %q", r.stdout)
		}

		deploy[3] = "deploy/web/run-2"
		f.run(f.write, f.press("cancel"), deploy...).expect(t, cli.ExitRejected, "*", "rejected")

		// The simple form's only action is the approve one.
		f.run(f.write, f.press("approve"), "approval", "create", "--key", "flags/beta", "--value", "on", "--wait").
			expect(t, cli.ExitApproved, "*", "on")

		// Without --wait: the link only.
		r = f.run(f.write, nil, "approval", "create", "--key", "deploy/web/run-3", "--value", "yes")
		r.expect(t, cli.ExitApproved, "*")

		// A retried step with the same --idempotency-key gets the same link.
		retried := []string{"approval", "create", "--key", "deploy/web/run-6", "--value", "yes", "--idempotency-key", "ci-run-6"}
		first := f.run(f.write, nil, retried...)
		first.expect(t, cli.ExitApproved, "*")
		f.run(f.write, nil, retried...).expect(t, cli.ExitApproved, strings.TrimSpace(first.stdout))

		// Withdrawn while waiting: 2.
		invalidate := func(link string) {
			if !f.waiting() {
				return
			}
			var pending struct {
				Pending struct {
					ApprovalID string `json:"approval_id"`
				}
			}
			req, _ := http.NewRequest("GET", f.srv.URL+"/v1/key/deploy/web/run-4/pending", nil)
			req.Header.Set("Authorization", "Bearer "+f.write)
			if err := doJSON(req, &pending); err != nil {
				f.t.Error(err)
				return
			}
			req, _ = http.NewRequest("POST", f.srv.URL+"/v1/approvals/"+pending.Pending.ApprovalID+"/invalidate", nil)
			req.Header.Set("Authorization", "Bearer "+f.write)
			if err := doJSON(req, nil); err != nil {
				f.t.Error(err)
			}
		}
		f.run(f.write, invalidate, "approval", "create", "--key", "deploy/web/run-4", "--value", "yes", "--wait").
			expect(t, cli.ExitClosed, "*")

		// No decision in time: 3.
		r = f.run(f.write, nil, "approval", "create", "--key", "deploy/web/run-5", "--value", "yes", "--wait", "--timeout", "2s")
		r.expect(t, cli.ExitError, "*")
		if !strings.Contains(r.stderr, "no decision") {
			t.Errorf("stderr %q", r.stderr)
		}
	})
}

func doJSON(req *http.Request, v any) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(b, v)
}

func TestKeyGetSet(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		f.run(f.write, nil, "key", "set", "myapp/mode", "maintenance: on").expect(t, cli.ExitApproved)
		f.run(f.read, nil, "key", "get", "myapp/mode").expect(t, cli.ExitApproved, "maintenance: on")
		// A last segment named pending is a key like any other.
		f.run(f.write, nil, "key", "set", "jobs/pending", "3").expect(t, cli.ExitApproved)
		f.run(f.read, nil, "key", "get", "jobs/pending").expect(t, cli.ExitApproved, "3")
		// No such key: 4.
		r := f.run(f.read, nil, "key", "get", "never/set")
		r.expect(t, cli.ExitNoSuchKey)
		if r.stdout != "" {
			t.Errorf("stdout %q", r.stdout)
		}
		// Refusals and mistakes: 3, with the API's code on stderr.
		r = f.run(f.read, nil, "key", "set", "myapp/mode", "off")
		r.expect(t, cli.ExitError)
		if !strings.Contains(r.stderr, "FORBIDDEN (HTTP 403)") {
			t.Errorf("stderr %q", r.stderr)
		}
		r = f.run(f.write, nil, "approval", "create", "--key", "a//b", "--value", "x")
		r.expect(t, cli.ExitError)
		if !strings.Contains(r.stderr, "BAD_USER_INPUT (HTTP 400)") || !strings.Contains(r.stderr, "[key_path]") {
			t.Errorf("stderr %q", r.stderr)
		}
		f.run("otw_wrong", nil, "key", "get", "myapp/mode").expect(t, cli.ExitError)
		f.run(f.write, nil, "approval", "create", "--key", "a", "--value", "x", "--action", "k=v").expect(t, cli.ExitError)
		f.run(f.write, nil, "key", "rm", "a").expect(t, cli.ExitError)
		f.run("", nil, "key", "get", "a").expect(t, cli.ExitError)
	})
}
