// Package slack delivers Ottr's approval events to Slack incoming webhooks.
//
// It holds the pieces that need no database: validation and masking of
// webhook URLs (webhook.go), their encryption at rest (crypto.go), the
// notification texts (message.go), and an SSRF-safe HTTP client together
// with the classification of Slack's answers (client.go, dialer.go,
// classify.go). Storage of channels and the delivery jobs build on it.
package slack
