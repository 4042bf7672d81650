package cli_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/surface/cli"
	"github.com/ottr/backend/internal/tools/testserver"
)

// runOffline runs a command that needs no server.
func runOffline(args ...string) result {
	var out, errOut strings.Builder
	code := cli.Run(context.Background(), args, &out, &errOut, func(string) string { return "" })
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// Every command answers help, --help and -h with its usage on standard
// output and exit 0, without OTTR_URL or a key.
func TestHelpForEveryCommand(t *testing.T) {
	t.Parallel()
	commands := []string{"approval create", "approval list", "key get", "key set", "channel list", "channel put",
		"channel test", "channel delete", "version"}
	for _, cmd := range commands {
		words := strings.Fields(cmd)
		for _, args := range [][]string{append([]string{"help"}, words...), append(words, "--help"), append(words, "-h")} {
			r := runOffline(args...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: ottr "+cmd) {
				t.Errorf("ottr %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), r.code, r.stdout, r.stderr)
			}
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		r := runOffline(args...)
		if r.code != 0 {
			t.Errorf("ottr %s: exit %d", args[0], r.code)
		}
		for _, cmd := range commands {
			if !strings.Contains(r.stdout, cmd) {
				t.Errorf("ottr %s does not list %s:\n%s", args[0], cmd, r.stdout)
			}
		}
	}
	// A group's help lists its commands.
	if r := runOffline("channel", "--help"); r.code != 0 || !strings.Contains(r.stdout, "usage: ottr channel put") || !strings.Contains(r.stdout, "usage: ottr channel delete") {
		t.Errorf("ottr channel --help: %+v", r)
	}
	if r := runOffline("help", "nothing"); r.code != cli.ExitError || !strings.Contains(r.stderr, `unknown command "nothing"`) {
		t.Errorf("ottr help nothing: %+v", r)
	}
	if r := runOffline("key", "rm", "a"); r.code != cli.ExitError || !strings.Contains(r.stderr, "usage: ottr") {
		t.Errorf("ottr key rm: %+v", r)
	}
	if r := runOffline("version"); r.code != 0 || !strings.HasPrefix(r.stdout, "ottr ") || !strings.Contains(r.stdout, "revision") {
		t.Errorf("ottr version: %+v", r)
	}
	if !cli.Handles("version") || !cli.Handles("channel") || !cli.Handles("--help") || cli.Handles("healthcheck") {
		t.Error("Handles does not claim the commands of the package, or claims another's")
	}
}

// key get tells a key that exists without a value (exit 1) from no key
// at all (exit 4).
func TestKeyGetTellsNoSuchKeyFromNoValue(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		f.run(f.write, nil, "approval", "create", "--key", "named/only", "--value", "yes").expect(t, cli.ExitApproved, "*")
		r := f.run(f.read, nil, "key", "get", "named/only")
		r.expect(t, cli.ExitRejected)
		if !strings.Contains(r.stderr, "has no value") {
			t.Errorf("stderr %q", r.stderr)
		}
		r = f.run(f.read, nil, "key", "get", "never/named")
		r.expect(t, cli.ExitNoSuchKey)
		if !strings.Contains(r.stderr, "no such key never/named") || r.stdout != "" {
			t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
		}
	})
}

func TestChannelAndApprovalListCommands(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		fake := slacktest.NewServer()
		t.Cleanup(fake.Close)
		srv := testserver.StartWith(t, testserver.Config(t, d), func(c *config.Config) {
			c.SlackWebhookPrefixes = append(c.SlackWebhookPrefixes, fake.Prefix())
		})
		owner := srv.SignUp("Owner")
		pid := owner.CreateProject("ci")
		_, write := owner.CreateAPIKey(pid, "WRITE")
		_, read := owner.CreateAPIKey(pid, "READ")
		f := &fixture{t: t, srv: srv, write: write, read: read}

		put := []string{"channel", "put", "ops room", "--webhook-url", fake.WebhookURL("T1", "B1", "S3cret"), "--events", "approval_created,approval_executed"}
		first := f.run(f.write, nil, put...)
		first.expect(t, cli.ExitApproved, "*")
		f.run(f.write, nil, put...).expect(t, cli.ExitApproved, strings.TrimSpace(first.stdout))
		if !strings.HasPrefix(first.stdout, "ops room\tenabled\tapproval_created,approval_executed\t") || strings.Contains(first.stdout, "S3cret") {
			t.Fatalf("put printed %q", first.stdout)
		}
		if r := f.run(f.write, nil, "channel", "put", "ops room", "--enabled=false"); r.code != 0 || !strings.HasPrefix(r.stdout, "ops room\tdisabled\t") {
			t.Fatalf("disabling: %+v", r)
		}
		f.run(f.write, nil, "channel", "list").expect(t, cli.ExitApproved, "*")
		f.run(f.write, nil, "channel", "test", "ops room").expect(t, cli.ExitApproved, "*")
		if n := len(fake.Requests()); n != 1 {
			t.Fatalf("the fake Slack got %d requests, want the test message", n)
		}
		f.run(f.read, nil, "channel", "list").expect(t, cli.ExitError)
		f.run(f.write, nil, "channel", "delete", "ops room").expect(t, cli.ExitApproved)
		f.run(f.write, nil, "channel", "delete", "ops room").expect(t, cli.ExitError)
		r := f.run(f.write, nil, "channel", "put", "new")
		if r.code != cli.ExitError || !strings.Contains(r.stderr, "webhook_url") {
			t.Errorf("put without a URL: %+v", r)
		}

		for i := range 3 {
			f.run(f.write, nil, "approval", "create", "--key", "deploy/"+string(rune('a'+i)), "--value", "yes").expect(t, cli.ExitApproved, "*")
		}
		all := f.run(f.read, nil, "approval", "list")
		all.expect(t, cli.ExitApproved, "*", "*", "*")
		if !strings.Contains(all.stdout, "\tpending\tdeploy/c\t") || strings.Index(all.stdout, "deploy/c") > strings.Index(all.stdout, "deploy/a") {
			t.Errorf("approval list printed %q", all.stdout)
		}
		f.run(f.read, nil, "approval", "list", "--key-prefix", "deploy/b").expect(t, cli.ExitApproved, "*")
		f.run(f.read, nil, "approval", "list", "--limit", "2").expect(t, cli.ExitApproved, "*", "*")
		f.run(f.read, nil, "approval", "list", "--status", "executed").expect(t, cli.ExitApproved)
		f.run(f.read, nil, "approval", "list", "--status", "EXECUTED").expect(t, cli.ExitError)
	})
}
