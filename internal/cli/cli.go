// Package cli is the ottr command for scripts: it creates approvals, waits
// for their decision and reads and sets keys through the REST API of a
// running server, configured by OTTR_URL and OTTR_API_KEY.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes of the commands, for scripts to branch on.
const (
	// ExitApproved: approval create --wait saw the first action executed
	// (with --value, the only one); key get printed the value.
	ExitApproved = 0
	// ExitRejected: another action was executed; key get found no value.
	ExitRejected = 1
	// ExitClosed: the approval expired, was invalidated or locked.
	ExitClosed = 2
	// ExitError: the wait timed out, the request failed, or the command
	// line was wrong.
	ExitError = 3
)

// Handles reports whether cmd, the first argument of ottr, is one of the
// commands of this package.
func Handles(cmd string) bool { return cmd == "approval" || cmd == "key" }

// Main runs a command (args without the program name) and returns its
// exit code. Interrupts stop a wait.
func Main(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, stdout, stderr, getenv)
}

// Run is Main with a context.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &command{out: stdout, errOut: stderr}
	code, err := c.dispatch(ctx, args, getenv)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "ottr:", err)
		}
		return ExitError
	}
	return code
}

type command struct {
	out, errOut io.Writer
}

const usage = `usage:
  ottr approval create --key PATH (--value V | --action KEY=VALUE[:LABEL[:STYLE]] ...)
                       [--ttl 10m] [--info TEXT] [--ref ID] [--initial-value V] [--pin DIGITS]
                       [--idempotency-key KEY] [--wait [--timeout 1h]]
  ottr key get PATH
  ottr key set PATH VALUE

OTTR_URL is the server (https://ottr.example.com), OTTR_API_KEY a project
API key (otw_… to create and set, otr_… to read).

approval create prints the link. With --wait it then waits for the decision
and exits 0 when the first action (with --value, the only one) is executed,
printing its value; 1 when another action is executed, printing its value;
2 when the approval expires, is invalidated or locked; 3 on timeout or error.
key get prints the value and exits 0, or exits 1 when the key has none.
In --action, VALUE and LABEL end at the next ':'.`

func (c *command) dispatch(ctx context.Context, args []string, getenv func(string) string) (int, error) {
	if len(args) < 2 {
		fmt.Fprintln(c.errOut, usage)
		return ExitError, flag.ErrHelp
	}
	api, err := newClient(getenv("OTTR_URL"), getenv("OTTR_API_KEY"))
	if err != nil {
		return ExitError, err
	}
	switch sub := strings.Join(args[:2], " "); sub {
	case "approval create":
		return c.createApproval(ctx, api, args[2:])
	case "key get":
		return c.getKey(ctx, api, args[2:])
	case "key set":
		return c.setKey(ctx, api, args[2:])
	default:
		fmt.Fprintln(c.errOut, usage)
		return ExitError, fmt.Errorf("unknown command %q", sub)
	}
}

func (c *command) getKey(ctx context.Context, api *client, args []string) (int, error) {
	if len(args) != 1 {
		return ExitError, errors.New("usage: ottr key get PATH")
	}
	value, err := api.getKey(ctx, args[0])
	var apiErr *apiError
	if errors.As(err, &apiErr) && apiErr.Status == 404 && apiErr.Detail.Code == "NOT_FOUND" {
		fmt.Fprintf(c.errOut, "ottr: key %s has no value\n", args[0])
		return ExitRejected, nil
	}
	if err != nil {
		return ExitError, err
	}
	if value == nil {
		fmt.Fprintf(c.errOut, "ottr: key %s has no value\n", args[0])
		return ExitRejected, nil
	}
	fmt.Fprintln(c.out, *value)
	return ExitApproved, nil
}

func (c *command) setKey(ctx context.Context, api *client, args []string) (int, error) {
	if len(args) != 2 {
		return ExitError, errors.New("usage: ottr key set PATH VALUE")
	}
	if err := api.setKey(ctx, args[0], args[1]); err != nil {
		return ExitError, err
	}
	return ExitApproved, nil
}
