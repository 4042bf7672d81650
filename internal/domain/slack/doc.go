// Package slack owns a project's Slack channels and everything about
// talking to Slack incoming webhooks.
//
// Without a database: validation and masking of webhook URLs (webhook.go),
// their encryption at rest and key rotation (crypto.go), the notification
// texts (message.go), and an SSRF-safe HTTP client together with the
// classification of Slack's answers (client.go, dialer.go, classify.go).
// With one: the slack_channels table (channel.go) and the service behind
// the API's channel operations (service.go). Delivering events to the
// channels is internal/domain/notify's work.
package slack
