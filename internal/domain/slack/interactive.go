package slack

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
)

// Interactivity is what makes a channel's messages interactive: its Slack
// app's signing secret, and who may click.
type Interactivity struct {
	// SigningSecret is the Slack app's signing secret; nil leaves it as it
	// is, "" clears it.
	SigningSecret *string
	// AllowedSlackUserIDs restricts clicks to these Slack users; nil
	// leaves the list as it is, empty lets anyone in the channel click.
	AllowedSlackUserIDs []string
}

// Limits of the interactivity settings.
const (
	MaxSigningSecret    = 200
	MaxAllowedSlackUser = 100
)

// slackUserID is the form of a Slack user ID (U… or, in Enterprise Grid,
// W…).
var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,30}$`)

// InteractionsPath is the path of the Request URL of a project's Slack
// apps; the project's id follows it.
const InteractionsPath = "/slack/interactions/"

// InteractionsURL is the Request URL to paste into a Slack app's
// Interactivity settings: one per project, shared by every channel of
// the project, whichever app they belong to (the signature tells).
func InteractionsURL(publicURL, projectID string) string {
	return strings.TrimRight(publicURL, "/") + InteractionsPath + projectID
}

// Interactive reports whether the channel has a signing secret, so that
// its messages carry buttons.
func (c *Channel) Interactive() bool { return c.SigningSecretEnc != nil }

// AllowedUsers is the channel's list of Slack users who may click; nil:
// anyone.
func (c *Channel) AllowedUsers() []string {
	if c.AllowedSlackUserIDs == nil || *c.AllowedSlackUserIDs == "" {
		return nil
	}
	return strings.Split(*c.AllowedSlackUserIDs, ",")
}

// AllowsSlackUser reports whether the Slack user may decide with this
// channel's buttons.
func (c *Channel) AllowsSlackUser(id string) bool {
	allowed := c.AllowedUsers()
	return allowed == nil || slices.Contains(allowed, id)
}

// sealInteractivity validates in and stores it in c, and in set (the
// columns of an update) when set is not nil. The secret is never echoed
// in an error.
func (s *Service) sealInteractivity(c *Channel, in Interactivity, set map[string]any) error {
	var problems apperr.Problems
	if in.SigningSecret != nil {
		secret := strings.TrimSpace(*in.SigningSecret)
		switch {
		case secret == "":
			c.SigningSecretEnc, c.SigningKeyVersion = nil, nil
		case len(secret) > MaxSigningSecret || !printableASCII(secret):
			problems.Add(apperr.Invalid("signingSecret", "signingSecret must be the Slack app's signing secret: up to %d printable characters without spaces", MaxSigningSecret))
		default:
			enc, version, err := s.keys.Encrypt(secret)
			if err != nil {
				return err
			}
			c.SigningSecretEnc, c.SigningKeyVersion = &enc, &version
		}
		if set != nil {
			set["signing_secret_enc"], set["signing_key_version"] = c.SigningSecretEnc, c.SigningKeyVersion
		}
	}
	if in.AllowedSlackUserIDs != nil {
		if len(in.AllowedSlackUserIDs) > MaxAllowedSlackUser {
			problems.Add(apperr.Invalid("allowedSlackUserIds", "allowedSlackUserIds must list at most %d users", MaxAllowedSlackUser))
		}
		var ids []string
		for _, id := range in.AllowedSlackUserIDs {
			id = strings.TrimSpace(id)
			if !slackUserID.MatchString(id) {
				problems.Add(apperr.Invalid("allowedSlackUserIds", "allowedSlackUserIds must be Slack user IDs such as U012AB3CD"))
				break
			}
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		c.AllowedSlackUserIDs = nil
		if len(ids) > 0 {
			joined := strings.Join(ids, ",")
			c.AllowedSlackUserIDs = &joined
		}
		if set != nil {
			set["allowed_slack_user_ids"] = c.AllowedSlackUserIDs
		}
	}
	return problems.Err()
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// SigningSecret decrypts a channel's signing secret. Never log or show it.
func (s *Service) SigningSecret(c *Channel) (string, error) {
	if c.SigningSecretEnc == nil || c.SigningKeyVersion == nil {
		return "", fmt.Errorf("channel %s has no signing secret", c.ID)
	}
	secret, err := s.keys.Decrypt(*c.SigningSecretEnc, *c.SigningKeyVersion)
	if err != nil {
		return "", fmt.Errorf("channel %s: signing secret: %w", c.ID, err)
	}
	return secret, nil
}

// InteractiveChannels returns a project's channels that have a signing
// secret, with no authorization: for verifying a request that claims to
// come from one of their Slack apps.
func InteractiveChannels(ctx context.Context, st *store.Store, projectID string) ([]Channel, error) {
	var out []Channel
	err := st.DB(ctx).Where("project_id = ? AND signing_secret_enc IS NOT NULL", projectID).Order("created_at, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("load interactive channels of %s: %w", projectID, err)
	}
	return out, nil
}
