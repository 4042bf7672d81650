package slack

import (
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// BlockPrefix starts the block_id of an approval's buttons:
// "ottr:<approval id>:<channel id>", which the interactions endpoint reads
// back from the click.
const BlockPrefix = "ottr:"

// Buttons are an approval's choices as Slack buttons, for the channel
// whose app will receive the clicks.
type Buttons struct {
	ApprovalID  string
	ChannelID   string
	Actions     []Button
	RefID       string // shown when not empty
	PinRequired bool   // no buttons: the link must be used
}

// Button is one action: its key comes back with the click.
type Button struct {
	Key, Label string
	Style      string // PRIMARY, DANGER or DEFAULT
}

// BlockID is the block_id of an approval's buttons in a channel.
func BlockID(approvalID, channelID string) string {
	return BlockPrefix + approvalID + ":" + channelID
}

// ParseBlockID reads the approval and channel from a block_id.
func ParseBlockID(id string) (approvalID, channelID string, ok bool) {
	rest, ok := strings.CutPrefix(id, BlockPrefix)
	if !ok {
		return "", "", false
	}
	approvalID, channelID, ok = strings.Cut(rest, ":")
	return approvalID, channelID, ok && approvalID != "" && channelID != ""
}

func (b *Buttons) blocks() []slack.Block {
	var out []slack.Block
	if b.RefID != "" {
		out = append(out, contextLine("Ref: "+escapeLine(b.RefID, maxKey)))
	}
	if b.PinRequired {
		return append(out, contextLine("🔐 This approval needs a PIN: use its link to decide."))
	}
	// No comment field: incoming webhooks are not documented to take input
	// blocks, and a refused block would lose the whole message. A comment
	// comes from the link's page, the API or the dashboard.
	buttons := make([]slack.BlockElement, 0, len(b.Actions))
	for _, a := range b.Actions {
		btn := slack.NewButtonBlockElement(a.Key, a.Key, slack.NewTextBlockObject(slack.PlainTextType, truncate(a.Label, 75), true, false))
		switch a.Style {
		case "PRIMARY":
			btn.Style = slack.StylePrimary
		case "DANGER":
			btn.Style = slack.StyleDanger
		}
		buttons = append(buttons, btn)
	}
	return append(out, slack.NewActionBlock(BlockID(b.ApprovalID, b.ChannelID), buttons...))
}

func contextLine(text string) slack.Block {
	return slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, text, false, true))
}

// truncate cuts plain text (a button's label) to max characters.
func truncate(s string, max int) string {
	r := []rune(strings.TrimSpace(s))
	if len(r) <= max {
		return string(r)
	}
	return string(r[:max-1]) + ellipsis
}

// Decider is who decided an approval, for the messages that show it.
type Decider struct {
	Via           string // LINK, SLACK or DASHBOARD
	UserName      string // DASHBOARD: the member's name
	SlackUserID   string
	SlackUserName string
	Comment       string
}

// who names the decider in mrkdwn.
func (d *Decider) who() string {
	switch d.Via {
	case "SLACK":
		if d.SlackUserName != "" {
			return "@" + escapeLine(d.SlackUserName, maxName)
		}
		if slackUserID.MatchString(d.SlackUserID) {
			return "<@" + d.SlackUserID + ">"
		}
		return "a Slack user"
	case "DASHBOARD":
		if d.UserName != "" {
			return escapeLine(d.UserName, maxName) + " (dashboard)"
		}
		return "a member (dashboard)"
	}
	return "the link"
}

// line is the extra line of "Approval executed".
func (d *Decider) line() string {
	l := "Decided by: " + d.who()
	if strings.TrimSpace(d.Comment) != "" {
		l += " — “" + escapeLine(d.Comment, maxReason) + "”"
	}
	return l
}

// Resolved is the "Approval created" message of an approval once the
// buttons are gone: the seed's lines, then the outcome, such as
// "✅ Deploy — by @alice, 12:03 UTC".
func Resolved(created Payload, outcome string) Payload {
	blocks := []slack.Block{created.Blocks[0], slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, outcome, false, true), nil, nil)}
	return Payload{Text: created.Text + "\n" + outcome, Blocks: blocks}
}

// ExecutedOutcome is the outcome line of an executed approval.
func ExecutedOutcome(label string, d *Decider, at time.Time) string {
	l := "✅ " + escapeLine(label, maxAction) + " — by " + d.who() + ", " + at.UTC().Format("15:04") + " UTC"
	if strings.TrimSpace(d.Comment) != "" {
		l += "\nComment: " + escapeLine(d.Comment, maxReason)
	}
	return l
}

// Reply is an answer through a click's response_url: ephemeral for the
// person who clicked, or the replacement of the original message.
type Reply struct {
	Text            string        `json:"text"`
	Blocks          []slack.Block `json:"blocks,omitempty"`
	ResponseType    string        `json:"response_type,omitempty"`
	ReplaceOriginal bool          `json:"replace_original"`
}

// Ephemeral is a reply only the person who clicked sees.
func Ephemeral(text string) Reply {
	return Reply{Text: text, ResponseType: "ephemeral"}
}

// Replace is a reply that replaces the original message.
func Replace(p Payload) Reply {
	return Reply{Text: p.Text, Blocks: p.Blocks, ReplaceOriginal: true}
}
