// Package channelkind is what every kind of delivery channel shares: a
// project's Slack channels and its webhook endpoints are both named rows
// with an encrypted URL, an event selection, an ordering and a delivery
// state, read by every member and changed by those who manage the
// project's integrations. The Service here adds, lists, updates, toggles,
// removes and prepares tests of such rows for any kind; a kind (package
// slack, package webhook) describes itself with a Kind and keeps only
// what is its own: its URL rules, its message format and its client.
package channelkind
