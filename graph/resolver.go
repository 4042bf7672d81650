package graph

//go:generate go tool gqlgen generate
//go:generate go run ../internal/tools/gqlgenrewrite generated.go model/models_gen.go

import (
	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/notify"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/domain/webhook"
	"github.com/ottr/backend/internal/realtime/live"
)

// Resolver holds the domain services the resolvers call. It holds no rules
// of its own: resolvers translate between GraphQL and the domain packages.
type Resolver struct {
	// PublicURL is the base of the server's own links (Slack's Request URL).
	PublicURL       string
	AuthService     *auth.Service
	ProjectService  *project.Service
	ApprovalService *approval.Service
	EventQueries    *event.Queries
	Live            *live.Subscriptions
	SlackService    *slack.Service
	WebhookService  *webhook.Service
	CallbackService *webhook.Callbacks
	Dispatcher      *notify.Dispatcher
}
