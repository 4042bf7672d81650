package e2e_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// readKeyFields classifies every field of the types a READ key reaches:
// true when a READ key reads it, false when it is FORBIDDEN. A READ key
// reads keys, approvals and events; who works on a project (members,
// e-mail addresses) and how it is wired (API keys, Slack channels,
// deliveries, approval rules) is not a value. A field missing here fails
// the test: decide, then add it.
var readKeyFields = map[string]map[string]bool{
	"Project": {
		"id": true, "name": true, "createdAt": true, "myRole": true,
		"approvals": true, "keys": true, "key": true, "events": true,
		"members": false, "membersConnection": false,
		"slackChannels": false, "slackChannelsConnection": false,
		"apiKeys": false, "apiKeysConnection": false,
		"deliveries": false, "noSelfApproval": false,
		"settings": false, "webhookEndpoints": false, "deliveryLog": false,
	},
	"Approval": {
		"id": true, "keyPath": true, "info": true, "refId": true, "actions": true, "status": true,
		"createdAt": true, "expiresAt": true, "pinRequired": true, "maxPinAttempts": true,
		"failedPinAttempts": true, "executedAction": true, "executedAt": true, "invalidatedAt": true,
		"invalidationReason": true, "project": true, "events": true, "eventsConnection": true,
		"decision": true, "allowLink": true, "remindedAt": true,
		"deciders": false, "callbackDeliveries": false,
	},
	"Event": {
		"id": true, "type": true, "occurredAt": true, "projectId": true, "approvalId": true, "keyPath": true,
		"action": true, "attempts": true, "maxAttempts": true, "reason": true, "approval": true,
		"project": true, "decision": true,
	},
	"KeyValue": {"id": true, "path": true, "value": true, "updatedAt": true, "pendingApproval": true},
	"Decision": {"action": true, "comment": true, "decidedAt": true, "decidedBy": true},
	"Decider":  {"via": true, "slackUserId": true, "slackUserName": true, "user": false},
}

// readKeyPaths wraps a selection of a type's field in a query that
// reaches that type from the fixture's project ($p) or approval ($a).
var readKeyPaths = map[string]string{
	"Project":  `project(id: $p) { %s }`,
	"Approval": `approval(id: $a) { %s }`,
	"Event":    `project(id: $p) { events(first: 1, filter: {types: [APPROVAL_EXECUTED]}) { edges { node { %s } } } }`,
	"KeyValue": `project(id: $p) { key(path: "deploy/web") { %s } }`,
	"Decision": `approval(id: $a) { decision { %s } }`,
	"Decider":  `approval(id: $a) { decision { decidedBy { %s } } }`,
}

type introspectedField struct {
	Name string
	Args []struct {
		Name         string
		DefaultValue *string
		Type         struct{ Kind string }
	}
	Type introspectedType
}

type introspectedType struct {
	Kind   string
	Name   *string
	OfType *introspectedType
}

func (t introspectedType) named() introspectedType {
	for t.OfType != nil {
		t = *t.OfType
	}
	return t
}

// TestReadKeyReadsOnlyKeysApprovalsAndEvents asks for every field of every
// type a READ key reaches, one at a time, with a READ key and with a
// VIEWER: the viewer reads them all, the READ key exactly the fields the
// table allows, and the refused ones are FORBIDDEN without a trace of the
// e-mail addresses, key names or channel names behind them.
func TestReadKeyReadsOnlyKeysApprovalsAndEvents(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		fake := slacktest.NewServer()
		t.Cleanup(fake.Close)
		cfg := testserver.Config(t, d)
		cfg.SlackWebhookPrefixes = append(cfg.SlackWebhookPrefixes, fake.Prefix())
		srv := testserver.StartWith(t, cfg)
		owner := srv.SignUp("Olga")
		viewer := srv.SignUp("Vera")
		pid := owner.CreateProject("Secrets")
		owner.AddMember(pid, viewer.Email, "VIEWER")
		var key struct {
			CreateAPIKey struct{ Secret string } `json:"createApiKey"`
		}
		owner.MustDo(`mutation($p: ID!) { createApiKey(projectId: $p, input: {name: "release-bot-name", scope: WRITE}) { secret } }`,
			map[string]any{"p": pid}, &key)
		writer := srv.Client(key.CreateAPIKey.Secret)
		keyID, readSecret := owner.CreateAPIKey(pid, "READ")
		reader := srv.Client(readSecret)
		channelID := writer.AddSlackChannel(pid, "ops-channel-name", fake.WebhookURL("T1", "B1", "S3cret"), "APPROVAL_CREATED")

		var created struct {
			CreateApproval struct{ Approval struct{ ID string } }
		}
		writer.MustDo(`mutation($p: ID!, $who: [String!]) { createApproval(projectId: $p, input: {keyPath: "deploy/web", value: "go", deciders: $who}) { approval { id } } }`,
			map[string]any{"p": pid, "who": []string{owner.Email}}, &created)
		aid := created.CreateApproval.Approval.ID
		owner.MustDo(`mutation($a: ID!) { decideApproval(id: $a, action: "approve", comment: "ok") { id } }`, map[string]any{"a": aid}, nil)
		secrets := []string{owner.Email, viewer.Email, "release-bot-name", "ops-channel-name"}
		vars := map[string]any{"p": pid, "a": aid}

		for typeName, fields := range readKeyFields {
			var intro struct {
				Type struct{ Fields []introspectedField } `json:"__type"`
			}
			owner.MustDo(`query($n: String!) { __type(name: $n) { fields { name args { name defaultValue type { kind } }
				type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }`, map[string]any{"n": typeName}, &intro)
			if len(intro.Type.Fields) == 0 {
				t.Fatalf("type %s has no fields", typeName)
			}
			for _, f := range intro.Type.Fields {
				allowed, ok := fields[f.Name]
				if !ok {
					t.Errorf("%s.%s is not classified: may a READ key read it? Add it to readKeyFields", typeName, f.Name)
					continue
				}
				sel := f.Name
				if f.Name == "key" {
					sel += `(path: "deploy/web")`
				} else {
					for _, a := range f.Args {
						if a.Type.Kind == "NON_NULL" && a.DefaultValue == nil {
							t.Fatalf("%s.%s needs argument %s: give it a value here", typeName, f.Name, a.Name)
						}
					}
				}
				if k := f.Type.named().Kind; k == "OBJECT" || k == "INTERFACE" || k == "UNION" {
					sel += " { __typename }"
				}
				path := readKeyPaths[typeName]
				q := "query($a: ID!) { " + fmt.Sprintf(path, sel) + " }"
				if strings.Contains(path, "$p") {
					q = strings.Replace(q, "$a: ID!", "$p: ID!", 1)
				}
				what := typeName + "." + f.Name

				if r := viewer.Do(q, vars); len(r.Errors) > 0 {
					t.Errorf("%s as a VIEWER: %+v", what, r.Errors)
				}
				r := reader.Do(q, vars)
				if allowed {
					if len(r.Errors) > 0 {
						t.Errorf("%s with a READ key: %+v", what, r.Errors)
					}
					continue
				}
				if len(r.Errors) != 1 || r.Errors[0].Code() != "FORBIDDEN" || r.Errors[0].Path[len(r.Errors[0].Path)-1] != f.Name {
					t.Errorf("%s with a READ key: want FORBIDDEN at the field, got data %s errors %+v", what, r.Data, r.Errors)
				}
			}
		}

		// Fully selected, nothing a READ key may read names a person, a
		// key or a channel.
		full := `query($p: ID!, $a: ID!) {
			project(id: $p) { id name myRole
				keys { edges { node { id path value pendingApproval { id } } } }
				approvals { edges { node { id keyPath status decision { comment decidedBy { via slackUserId slackUserName } } } } }
				events { edges { node { id type keyPath decision { decidedBy { via } } } } } }
			approval(id: $a) { id decision { action { key } decidedBy { via } } } }`
		r := reader.Do(full, vars)
		if len(r.Errors) > 0 || !strings.Contains(string(r.Data), aid) {
			t.Fatalf("a READ key reading values: data %s errors %+v", r.Data, r.Errors)
		}
		for _, s := range secrets {
			if strings.Contains(string(r.Data), s) {
				t.Errorf("a READ key read %q: %s", s, r.Data)
			}
		}

		// node(id) finds nothing of the settings either, whatever the type.
		for _, id := range []string{keyID, channelID, "member:" + pid + ":" + owner.ID} {
			r := reader.Do(`query($id: ID!) { node(id: $id) { id ... on ApiKey { name } ... on SlackChannel { name } ... on ProjectMember { user { email } } } }`, map[string]any{"id": id})
			if len(r.Errors) != 1 || r.Errors[0].Code() != "FORBIDDEN" {
				t.Errorf("node(%s) with a READ key: data %s errors %+v", id, r.Data, r.Errors)
			}
			for _, s := range secrets {
				if strings.Contains(string(r.Data), s) {
					t.Errorf("node(%s) with a READ key read %q", id, s)
				}
			}
		}
	})
}
