// Package webhook owns a project's webhook endpoints: HTTPS URLs that
// receive its events as signed JSON requests, following the Standard
// Webhooks specification (https://www.standardwebhooks.com/). It keeps
// the endpoints, their URL rules, their signing secrets and the event
// payload; the dispatcher (internal/domain/notify) delivers, retries and logs
// the requests as it does for Slack.
package webhook
