package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// maxPoll is the longest single long-poll the command asks for (the
// server's cap).
const maxPoll = 60 * time.Second

// actionFlags collects repeated --action KEY=VALUE[:LABEL[:STYLE]].
type actionFlags []action

func (a *actionFlags) String() string { return fmt.Sprint(*a) }

func (a *actionFlags) Set(s string) error {
	key, rest, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return errors.New("want KEY=VALUE[:LABEL[:STYLE]]")
	}
	parts := strings.SplitN(rest, ":", 3)
	act := action{Key: key, Value: parts[0]}
	if len(parts) > 1 {
		act.Label = parts[1]
	}
	if len(parts) > 2 {
		act.Style = parts[2]
	}
	*a = append(*a, act)
	return nil
}

// optional is a string flag that knows whether it was given.
type optional struct {
	v   string
	set bool
}

func (o *optional) String() string { return o.v }
func (o *optional) Set(s string) error {
	o.v, o.set = s, true
	return nil
}

// createOptions are the flags of approval create.
type createOptions struct {
	keyPath, idempotencyKey   string
	value, info, ref, initial optional
	pin                       optional
	actions                   actionFlags
	ttl, timeout              time.Duration
	maxPinAttempts            int
	wait                      bool
}

func (c *command) parseCreate(args []string) (*createOptions, error) {
	fs := flag.NewFlagSet("ottr approval create", flag.ContinueOnError)
	fs.SetOutput(c.errOut)
	var o createOptions
	fs.StringVar(&o.keyPath, "key", "", "the key path the approval sets (required)")
	fs.Var(&o.value, "value", "simple form: one action, approve, that sets the key to this")
	fs.Var(&o.actions, "action", "full form, 1 to 3 times: KEY=VALUE[:LABEL[:STYLE]], STYLE primary, danger or default")
	fs.DurationVar(&o.ttl, "ttl", 0, "time to live, e.g. 30m (the server's default: 10m)")
	fs.Var(&o.info, "info", "context shown on the approval page")
	fs.Var(&o.ref, "ref", "your reference id")
	fs.Var(&o.initial, "initial-value", "set the key to this before the link exists")
	fs.Var(&o.pin, "pin", "a PIN of 4 to 12 digits the person must enter")
	fs.IntVar(&o.maxPinAttempts, "max-pin-attempts", 0, "wrong PINs before the approval locks (the server's default: 5)")
	fs.StringVar(&o.idempotencyKey, "idempotency-key", "", "send again safely: a repeat within 24 h gets the same approval (e.g. the CI run id)")
	fs.BoolVar(&o.wait, "wait", false, "wait for the decision and exit by it")
	fs.DurationVar(&o.timeout, "timeout", time.Hour, "with --wait: give up after this long (exit 3)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.keyPath == "":
		return nil, errors.New("--key is required")
	case o.value.set == (len(o.actions) > 0):
		return nil, errors.New("give either --value or one to three --action")
	case o.ttl != 0 && o.ttl%time.Second != 0:
		return nil, errors.New("--ttl must be whole seconds")
	case o.wait && o.timeout <= 0:
		return nil, errors.New("--timeout must be positive")
	}
	return &o, nil
}

// body is the request of POST /v1/approvals.
func (o *createOptions) body() map[string]any {
	b := map[string]any{"key_path": o.keyPath}
	if o.value.set {
		b["value"] = o.value.v
	} else {
		b["actions"] = o.actions
	}
	if o.ttl != 0 {
		b["ttl_seconds"] = int(o.ttl / time.Second)
	}
	for name, f := range map[string]optional{"info": o.info, "ref_id": o.ref, "initial_value": o.initial, "pin": o.pin} {
		if f.set {
			b[name] = f.v
		}
	}
	if o.maxPinAttempts != 0 {
		b["max_pin_attempts"] = o.maxPinAttempts
	}
	return b
}

func (c *command) createApproval(ctx context.Context, api *client, args []string) (int, error) {
	o, err := c.parseCreate(args)
	if err != nil {
		return ExitError, err
	}
	created, err := api.createApproval(ctx, o.body(), o.idempotencyKey)
	if err != nil {
		return ExitError, err
	}
	fmt.Fprintln(c.out, created.URL)
	if !o.wait {
		return ExitApproved, nil
	}
	fmt.Fprintf(c.errOut, "ottr: waiting up to %s for approval %s\n", o.timeout, created.ID)
	return c.await(ctx, api, created.ID, o.timeout)
}

// await long-polls the approval until a final status or the timeout, and
// exits by the decision. Failed polls are tried again until the timeout:
// a script's wait outlives a server restart.
func (c *command) await(ctx context.Context, api *client, id string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		poll := maxPoll
		if dl, ok := ctx.Deadline(); ok {
			poll = min(poll, time.Until(dl).Truncate(time.Second))
		}
		if poll < time.Second {
			return ExitError, fmt.Errorf("no decision on approval %s within %s", id, timeout)
		}
		a, err := api.waitApproval(ctx, id, poll)
		if err != nil {
			if ctx.Err() != nil {
				return ExitError, fmt.Errorf("no decision on approval %s within %s", id, timeout)
			}
			pause, retry := retryable(err)
			if !retry {
				return ExitError, err
			}
			fmt.Fprintf(c.errOut, "ottr: %v; trying again in %s\n", err, pause)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
			}
			continue
		}
		if code, final := c.decided(a); final {
			return code, nil
		}
	}
}

// decided reports the exit code of a final approval.
func (c *command) decided(a *approval) (int, bool) {
	switch a.Status {
	case "pending":
		return 0, false
	case "executed":
		if a.ExecutedAction == nil {
			return ExitError, true
		}
		fmt.Fprintln(c.out, a.ExecutedAction.Value)
		fmt.Fprintf(c.errOut, "ottr: approval %s executed: %s\n", a.ID, a.ExecutedAction.Key)
		if len(a.Actions) > 0 && a.ExecutedAction.Key == a.Actions[0].Key {
			return ExitApproved, true
		}
		return ExitRejected, true
	default: // expired, invalidated, locked
		fmt.Fprintf(c.errOut, "ottr: approval %s %s\n", a.ID, a.Status)
		return ExitClosed, true
	}
}

// retryable tells whether a failed poll may be sent again, and after how
// long: network failures, 429 and 5xx may pass; the rest will not.
func retryable(err error) (time.Duration, bool) {
	var e *apiError
	if !errors.As(err, &e) {
		return 2 * time.Second, true
	}
	switch {
	case e.Status == 429:
		return max(e.RetryAfter, time.Second), true
	case e.Status >= 500:
		return 2 * time.Second, true
	}
	return 0, false
}
