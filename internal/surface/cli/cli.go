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
	// ExitNoSuchKey: key get found no key of that path.
	ExitNoSuchKey = 4
)

// Handles reports whether cmd, the first argument of ottr, is one of the
// commands of this package.
func Handles(cmd string) bool {
	switch cmd {
	case "approval", "key", "channel", "version", "help", "-h", "-help", "--help":
		return true
	}
	return false
}

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

func (c *command) dispatch(ctx context.Context, args []string, getenv func(string) string) (int, error) {
	switch {
	case len(args) == 0:
		c.help(nil)
		return ExitError, flag.ErrHelp
	case args[0] == "help":
		if !c.help(args[1:]) {
			return ExitError, fmt.Errorf("unknown command %q", strings.Join(args[1:], " "))
		}
		return ExitApproved, nil
	case args[0] == "version":
		if wantsHelp(args[1:]) {
			c.help(args[:1])
			return ExitApproved, nil
		}
		c.version()
		return ExitApproved, nil
	case wantsHelp(args):
		words := args[:min(2, len(args))]
		if wantsHelp(words) {
			words = words[:len(words)-1]
		}
		c.help(words)
		return ExitApproved, nil
	case len(args) < 2:
		c.out = c.errOut
		c.help(args)
		return ExitError, flag.ErrHelp
	}
	sub := strings.Join(args[:2], " ")
	if _, known := helps[sub]; !known {
		c.out = c.errOut
		c.help(nil)
		return ExitError, fmt.Errorf("unknown command %q", sub)
	}
	api, err := newClient(getenv("OTTR_URL"), getenv("OTTR_API_KEY"))
	if err != nil {
		return ExitError, err
	}
	switch sub {
	case "approval create":
		return c.createApproval(ctx, api, args[2:])
	case "approval list":
		return c.listApprovals(ctx, api, args[2:])
	case "key get":
		return c.getKey(ctx, api, args[2:])
	case "key set":
		return c.setKey(ctx, api, args[2:])
	case "channel list":
		return c.listChannels(ctx, api, args[2:])
	case "channel put":
		return c.putChannel(ctx, api, args[2:])
	case "channel test":
		return c.testChannel(ctx, api, args[2:])
	default: // channel delete
		return c.deleteChannel(ctx, api, args[2:])
	}
}

func (c *command) getKey(ctx context.Context, api *client, args []string) (int, error) {
	if len(args) != 1 {
		return ExitError, errors.New("usage: ottr key get PATH")
	}
	value, err := api.getKey(ctx, args[0])
	var apiErr *apiError
	if errors.As(err, &apiErr) && apiErr.Status == 404 && apiErr.Detail.Code == "NOT_FOUND" {
		fmt.Fprintf(c.errOut, "ottr: no such key %s\n", args[0])
		return ExitNoSuchKey, nil
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
