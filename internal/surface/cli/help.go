package cli

import (
	"fmt"
	"strings"

	"github.com/ottr/backend/internal/platform/buildinfo"
)

// helps is each command's usage, printed by `ottr help COMMAND`, `ottr
// COMMAND --help` and when its arguments are wrong.
var helps = map[string]string{
	"approval create": `usage: ottr approval create --key PATH (--value V | --action KEY=VALUE[:LABEL[:STYLE]] ...)
                            [--ttl 10m] [--info TEXT] [--ref ID] [--initial-value V] [--pin DIGITS]
                            [--max-pin-attempts N] [--idempotency-key KEY] [--wait [--timeout 1h]]

Creates an approval and prints its link. With --wait it then waits for the
decision and exits 0 when the first action (with --value, the only one) is
executed, printing its value; 1 when another action is executed, printing
its value; 2 when the approval expires, is invalidated or locked; 3 on
timeout or error. In --action, VALUE and LABEL end at the next ':'.`,
	"approval list": `usage: ottr approval list [--status pending|executed|expired|invalidated|locked]
                          [--key-prefix PREFIX] [--ref ID] [--limit N]

Prints the project's approvals, newest first, one a line: id, status, key
path, expiry. --limit caps how many (default: all).`,
	"key get": `usage: ottr key get PATH

Prints the key's value and exits 0; exits 1 when the key exists but has no
value yet (an approval names it, nothing set it), 4 when there is no such
key, 3 on error.`,
	"key set": `usage: ottr key set PATH VALUE

Sets the key to VALUE (a WRITE key).`,
	"channel list": `usage: ottr channel list

Prints the project's Slack channels, one a line: name, enabled or disabled,
events, masked webhook URL (a WRITE key).`,
	"channel put": `usage: ottr channel put NAME [--webhook-url URL] [--events approval_created,...] [--enabled=true|false]

Creates the Slack channel NAME, or brings it to the flags given; the same
command again changes nothing. A new channel needs --webhook-url, and gets
every event and starts enabled unless told otherwise.`,
	"channel test": `usage: ottr channel test NAME

Posts a test message to the channel now; exits 0 when Slack took it.`,
	"channel delete": `usage: ottr channel delete NAME

Removes the channel and its delivery log.`,
	"version": `usage: ottr version

Prints the version and VCS revision of this build.`,
}

// groups lists the commands under each first word, in help order.
var groups = []struct{ name, summary string }{
	{"approval", "approval create, approval list"},
	{"key", "key get, key set"},
	{"channel", "channel list, channel put, channel test, channel delete"},
	{"version", "version"},
}

const overview = `usage: ottr COMMAND [ARGS]

Without a command, ottr runs the server (see the README's configuration).
Server commands: healthcheck, rotate-encryption-key.
Commands for scripts, through the REST API of a running server:

  approval create   create an approval, print its link, optionally wait for the decision
  approval list     list the project's approvals
  key get           print a key's value
  key set           set a key's value
  channel list      list the project's Slack channels
  channel put       create or update a Slack channel by name
  channel test      post a test message to a channel
  channel delete    remove a channel
  version           print the build's version
  help [COMMAND]    this, or one command's usage

OTTR_URL is the server (https://ottr.example.com), OTTR_API_KEY a project
API key (otw_… to write, otr_… to read keys and approvals).`

// help prints the usage of the command named by words ("" or "help":
// every command), and reports whether it knows it.
func (c *command) help(words []string) bool {
	name := strings.Join(words, " ")
	if text, ok := helps[name]; ok {
		fmt.Fprintln(c.out, text)
		return true
	}
	for _, g := range groups {
		if name == g.name {
			for _, cmd := range strings.Split(g.summary, ", ") {
				fmt.Fprintln(c.out, helps[cmd])
				fmt.Fprintln(c.out)
			}
			return true
		}
	}
	fmt.Fprintln(c.out, overview)
	return name == "" || name == "help"
}

func (c *command) version() {
	v, rev := buildinfo.Get()
	fmt.Fprintf(c.out, "ottr %s (revision %s)\n", v, rev)
}

// wantsHelp reports whether args ask for help: -h, -help or --help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
		if a == "--" {
			return false
		}
	}
	return false
}
