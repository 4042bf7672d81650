package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

type channel struct {
	Name       string   `json:"name"`
	WebhookURL string   `json:"webhook_url"`
	Events     []string `json:"events"`
	Enabled    bool     `json:"enabled"`
}

func (ch channel) line() string {
	state := "enabled"
	if !ch.Enabled {
		state = "disabled"
	}
	return fmt.Sprintf("%s\t%s\t%s\t%s", ch.Name, state, strings.Join(ch.Events, ","), ch.WebhookURL)
}

func channelPath(name string) string { return "/v1/slack/channels/" + url.PathEscape(name) }

// oneName parses a command that takes a channel name and flags.
func oneName(fs *flag.FlagSet, args []string) (string, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", fmt.Errorf("%s: give the channel's NAME first", fs.Name())
	}
	if err := fs.Parse(args[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%s: unexpected %q", fs.Name(), fs.Arg(0))
	}
	return args[0], nil
}

func (c *command) listChannels(ctx context.Context, api *client, args []string) (int, error) {
	if len(args) != 0 {
		return ExitError, errors.New(helps["channel list"])
	}
	var out struct{ Channels []channel }
	if err := api.do(ctx, http.MethodGet, "/v1/slack/channels", nil, nil, &out); err != nil {
		return ExitError, err
	}
	for _, ch := range out.Channels {
		fmt.Fprintln(c.out, ch.line())
	}
	return ExitApproved, nil
}

func (c *command) putChannel(ctx context.Context, api *client, args []string) (int, error) {
	fs := flag.NewFlagSet("ottr channel put", flag.ContinueOnError)
	fs.SetOutput(c.errOut)
	var hook, events, enabled optional
	fs.Var(&hook, "webhook-url", "the Slack incoming webhook URL (required for a new channel)")
	fs.Var(&events, "events", "comma-separated events: approval_created, approval_executed, approval_expired, approval_invalidated, pin_failed, token_locked")
	fs.Var(&enabled, "enabled", "true or false")
	name, err := oneName(fs, args)
	if err != nil {
		return ExitError, err
	}
	body := map[string]any{}
	if hook.set {
		body["webhook_url"] = hook.v
	}
	if events.set {
		body["events"] = strings.Split(events.v, ",")
	}
	if enabled.set {
		on, err := strconv.ParseBool(enabled.v)
		if err != nil {
			return ExitError, fmt.Errorf("--enabled must be true or false, not %q", enabled.v)
		}
		body["enabled"] = on
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return ExitError, err
	}
	var ch channel
	if err := api.do(ctx, http.MethodPut, channelPath(name), http.Header{"Content-Type": {"application/json"}}, raw, &ch); err != nil {
		return ExitError, err
	}
	fmt.Fprintln(c.out, ch.line())
	return ExitApproved, nil
}

func (c *command) testChannel(ctx context.Context, api *client, args []string) (int, error) {
	name, err := oneName(flag.NewFlagSet("ottr channel test", flag.ContinueOnError), args)
	if err != nil {
		return ExitError, err
	}
	var res struct {
		OK         bool    `json:"ok"`
		StatusCode *int    `json:"status_code"`
		Error      *string `json:"error"`
		LatencyMS  int64   `json:"latency_ms"`
	}
	if err := api.do(ctx, http.MethodPost, channelPath(name)+"/test", nil, nil, &res); err != nil {
		return ExitError, err
	}
	if !res.OK {
		msg := "no answer"
		if res.Error != nil {
			msg = *res.Error
		}
		return ExitError, fmt.Errorf("Slack refused the test message: %s", msg)
	}
	fmt.Fprintf(c.out, "ok (%d ms)\n", res.LatencyMS)
	return ExitApproved, nil
}

func (c *command) deleteChannel(ctx context.Context, api *client, args []string) (int, error) {
	name, err := oneName(flag.NewFlagSet("ottr channel delete", flag.ContinueOnError), args)
	if err != nil {
		return ExitError, err
	}
	if err := api.do(ctx, http.MethodDelete, channelPath(name), nil, nil, nil); err != nil {
		return ExitError, err
	}
	return ExitApproved, nil
}

// listApprovals prints the project's approvals, following the pages.
func (c *command) listApprovals(ctx context.Context, api *client, args []string) (int, error) {
	fs := flag.NewFlagSet("ottr approval list", flag.ContinueOnError)
	fs.SetOutput(c.errOut)
	var status, prefix, ref optional
	fs.Var(&status, "status", "pending, executed, expired, invalidated or locked")
	fs.Var(&prefix, "key-prefix", "only key paths starting with this")
	fs.Var(&ref, "ref", "only approvals with this ref id")
	limit := fs.Int("limit", 0, "print at most this many (0: all)")
	if err := fs.Parse(args); err != nil {
		return ExitError, err
	}
	if fs.NArg() > 0 || *limit < 0 {
		return ExitError, errors.New(helps["approval list"])
	}
	q := url.Values{}
	for name, o := range map[string]optional{"status": status, "key_prefix": prefix, "ref_id": ref} {
		if o.set {
			q.Set(name, o.v)
		}
	}
	printed := 0
	for {
		var page struct {
			Approvals []struct {
				ID        string `json:"id"`
				Status    string `json:"status"`
				KeyPath   string `json:"key_path"`
				ExpiresAt string `json:"expires_at"`
			} `json:"approvals"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := api.do(ctx, http.MethodGet, "/v1/approvals?"+q.Encode(), nil, nil, &page); err != nil {
			return ExitError, err
		}
		for _, a := range page.Approvals {
			if *limit > 0 && printed == *limit {
				return ExitApproved, nil
			}
			fmt.Fprintf(c.out, "%s\t%s\t%s\t%s\n", a.ID, a.Status, a.KeyPath, a.ExpiresAt)
			printed++
		}
		if page.NextCursor == nil {
			return ExitApproved, nil
		}
		q.Set("cursor", *page.NextCursor)
		q.Set("limit", "100")
	}
}
