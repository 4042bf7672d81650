package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ottr/backend/graph/model"
	"github.com/ottr/backend/internal/domain/approval"
)

// approvalReads are the parts of a stored approval that each of
// Approval's fields shows (approval.Fields; 0: what every read takes). A
// field not named here, such as one added to the schema later, reads the
// whole approval: no field is ever served from a read that left it out.
var approvalReads = map[string]approval.Fields{
	"__typename": 0, "id": 0, "keyPath": 0, "status": 0, "createdAt": 0, "expiresAt": 0,
	// Resolved from the approval's id and project alone.
	"project": 0, "events": 0, "eventsConnection": 0, "callbackDeliveries": 0,

	"info":               approval.FieldInfo,
	"refId":              approval.FieldRefID,
	"actions":            approval.FieldActions,
	"pinRequired":        approval.FieldPIN,
	"maxPinAttempts":     approval.FieldPIN,
	"failedPinAttempts":  approval.FieldPIN,
	"executedAction":     approval.FieldOutcome,
	"executedAt":         approval.FieldOutcome,
	"decision":           approval.FieldOutcome,
	"invalidatedAt":      approval.FieldInvalidation,
	"invalidationReason": approval.FieldInvalidation,
	"allowLink":          approval.FieldDeciders,
	"deciders":           approval.FieldDeciders,
	"remindedAt":         approval.FieldReminder,
}

// approvalSkip is what the connection of approvals being resolved need not
// read: the fields that neither edges.node nor nodes selects, fragments
// included. An operation that may hold an approval anywhere else (an
// event's approval, node(id), a key's pending approval) reads them whole,
// as the loaders may serve that selection from the page.
func approvalSkip(ctx context.Context) approval.Fields {
	oc := graphql.GetOperationContext(ctx)
	if approvalsBeyondPages(oc) {
		return 0
	}
	var need approval.Fields
	for _, path := range [][]string{{"edges", "node"}, {"nodes"}} {
		set, ok := selectionAt(ctx, path...)
		if !ok {
			continue
		}
		for _, f := range graphql.CollectFields(oc, set, nil) {
			reads, known := approvalReads[f.Name]
			if !known {
				return 0
			}
			need |= reads
		}
	}
	return approval.AllFields &^ need
}

// approvalsBeyondPages reports whether the operation's document has a
// field that may hold an approval other than the nodes of a connection of
// approvals. Each field is seen once, however often its fragment is
// spread: the walk costs the document's size.
func approvalsBeyondPages(oc *graphql.OperationContext) bool {
	var walk func(set ast.SelectionSet) bool
	walk = func(set ast.SelectionSet) bool {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if s.Definition != nil && mayBeApproval(s.Definition.Type.Name()) && !pageNode(s) {
					return true
				}
				if walk(s.SelectionSet) {
					return true
				}
			case *ast.InlineFragment:
				if walk(s.SelectionSet) {
					return true
				}
			}
			// A fragment spread's definition is walked below, once.
		}
		return false
	}
	if walk(oc.Operation.SelectionSet) {
		return true
	}
	for _, f := range oc.Doc.Fragments {
		if walk(f.SelectionSet) {
			return true
		}
	}
	return false
}

// pageNode reports whether f is the approval of a page: an edge's node or
// a connection's nodes.
func pageNode(f *ast.Field) bool {
	if f.ObjectDefinition == nil {
		return false
	}
	switch f.ObjectDefinition.Name {
	case "ApprovalEdge":
		return f.Name == "node"
	case "ApprovalConnection":
		return f.Name == "nodes"
	}
	return false
}

// mayBeApproval reports whether a field of the named type may hold an
// approval: Approval itself, or an interface or union it belongs to.
func mayBeApproval(typeName string) bool {
	if typeName == "Approval" {
		return true
	}
	def := parsedSchema.Types[typeName]
	if def == nil || (def.Kind != ast.Interface && def.Kind != ast.Union) {
		return false
	}
	for _, t := range parsedSchema.GetPossibleTypes(def) {
		if t.Name == "Approval" {
			return true
		}
	}
	return false
}

// eventSummaryFields are the fields of Event that an event read in part
// (event.Queries.SummariesForApprovals) answers as the whole event does. A
// field not named here, such as one added later, reads events whole.
var eventSummaryFields = map[string]bool{"__typename": true, "id": true, "type": true, "occurredAt": true}

// pageEventsInPart reports whether the events of a page of approvals may be
// read in part: the page's approvals are partial, so no other selection
// sees them or what is attached to them, and its nodes' events fields,
// fragments included, select only fields a summary answers.
func pageEventsInPart(ctx context.Context, approvals []*model.Approval) bool {
	if len(approvals) == 0 {
		return false
	}
	for _, a := range approvals {
		if !a.Partial {
			return false
		}
	}
	oc := graphql.GetOperationContext(ctx)
	asked := false
	for _, path := range [][]string{{"edges", "node", "events"}, {"nodes", "events"}} {
		set, ok := selectionAt(ctx, path...)
		if !ok {
			continue
		}
		asked = true
		for _, f := range graphql.CollectFields(oc, set, nil) {
			if !eventSummaryFields[f.Name] {
				return false
			}
		}
	}
	return asked
}
