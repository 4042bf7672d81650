package approval

import (
	"strings"
	"sync/atomic"
)

// Fields names groups of an approval's fields, so that a list which shows
// a few of them reads only their columns. Every read fills the identity,
// status and times (ID, ProjectID, KeyPath, Status, CreatedAt, ExpiresAt)
// whatever it is asked for.
type Fields uint16

const (
	FieldInfo         Fields = 1 << iota // Info
	FieldRefID                           // RefID
	FieldActions                         // Actions
	FieldPIN                             // PinRequired, MaxPinAttempts, FailedPinAttempts
	FieldOutcome                         // ExecutedAction, ExecutedAt, Decision
	FieldInvalidation                    // InvalidatedAt, InvalidationReason
	FieldDeciders                        // AllowLink, Deciders
	FieldCreator                         // CreatedByUserID, CreatedByAPIKeyID
	FieldReminder                        // RemindedAt
	// fieldRow is the row's own columns that no caller sees (the link's
	// token hash), which the domain's steps need.
	fieldRow

	// AllFields is a whole approval, as every read but a list's takes it.
	AllFields = fieldRow<<1 - 1
)

// column is one stored column of an approval, the fields that need it
// (none: every read takes it) and where a scan puts it.
type column struct {
	name   string
	fields Fields
	dest   func(r *row) any
}

// columns are an approval's stored columns in the order of every read.
var columns = []column{
	{"id", 0, func(r *row) any { return &r.ID }},
	{"project_id", 0, func(r *row) any { return &r.ProjectID }},
	{"key_path", 0, func(r *row) any { return &r.KeyPath }},
	{"info", FieldInfo, func(r *row) any { return &r.Info }},
	{"ref_id", FieldRefID, func(r *row) any { return &r.RefID }},
	// The executed action is one of the actions: the outcome needs them.
	{"actions", FieldActions | FieldOutcome, func(r *row) any { return &r.Actions }},
	{"status", 0, func(r *row) any { return &r.Status }},
	{"created_at", 0, func(r *row) any { return &r.CreatedAt }},
	{"expires_at", 0, func(r *row) any { return &r.ExpiresAt }},
	{"token_hash", fieldRow, func(r *row) any { return &r.TokenHash }},
	{"pin_hash", FieldPIN, func(r *row) any { return &r.PinHash }},
	{"max_pin_attempts", FieldPIN, func(r *row) any { return &r.MaxPinAttempts }},
	{"failed_pin_attempts", FieldPIN, func(r *row) any { return &r.FailedPinAttempts }},
	{"executed_action", FieldOutcome, func(r *row) any { return &r.ExecutedAction }},
	{"executed_at", FieldOutcome, func(r *row) any { return &r.ExecutedAt }},
	{"invalidated_at", FieldInvalidation, func(r *row) any { return &r.InvalidatedAt }},
	{"invalidation_reason", FieldInvalidation, func(r *row) any { return &r.InvalidationReason }},
	{"decided_via", FieldOutcome, func(r *row) any { return &r.DecidedVia }},
	{"decided_by_user_id", FieldOutcome, func(r *row) any { return &r.DecidedByUserID }},
	{"decided_by_slack_user_id", FieldOutcome, func(r *row) any { return &r.DecidedBySlackUserID }},
	{"decided_by_slack_user_name", FieldOutcome, func(r *row) any { return &r.DecidedBySlackUserName }},
	{"decision_comment", FieldOutcome, func(r *row) any { return &r.DecisionComment }},
	{"allow_link", FieldDeciders, func(r *row) any { return &r.AllowLink }},
	{"deciders", FieldDeciders, func(r *row) any { return &r.Deciders }},
	{"created_by_user_id", FieldCreator, func(r *row) any { return &r.CreatedByUserID }},
	{"created_by_api_key_id", FieldCreator, func(r *row) any { return &r.CreatedByAPIKeyID }},
	{"reminded_at", FieldReminder, func(r *row) any { return &r.RemindedAt }},
}

// rowColumns are the columns of a whole approval, in the order of
// row.fields.
var rowColumns = wholeRow.names

// selection is the columns a read of some fields takes.
type selection struct {
	names string
	cols  []column
	// missing are the fields the read leaves unfilled.
	missing Fields
}

// columnsFor is what a read of fields takes: the columns every read takes
// and those of the fields asked for.
func columnsFor(fields Fields) selection {
	fields &= AllFields
	s := selection{missing: AllFields &^ fields}
	names := make([]string, 0, len(columns))
	for _, c := range columns {
		if c.fields == 0 || c.fields&fields != 0 {
			s.cols = append(s.cols, c)
			names = append(names, c.name)
		}
	}
	s.names = strings.Join(names, ", ")
	return s
}

// wholeRow is the selection of a whole approval, made once.
var wholeRow = columnsFor(AllFields)

// selections keeps the selections made, indexed by their fields: there
// are 2^10 values, so an array holds them all without a map's boxed keys.
var selections [AllFields + 1]atomic.Pointer[selection]

// selectionOf is columnsFor(fields), made once for each value.
func selectionOf(fields Fields) selection {
	fields &= AllFields
	if fields == AllFields {
		return wholeRow
	}
	if s := selections[fields].Load(); s != nil {
		return *s
	}
	s := columnsFor(fields)
	selections[fields].Store(&s)
	return s
}

// dests are where a scan of the selection's columns puts them in r.
func (s selection) dests(r *row) []any {
	out := make([]any, len(s.cols))
	for i, c := range s.cols {
		out[i] = c.dest(r)
	}
	return out
}

// fields are the row's fields in the order of rowColumns, for a scan.
func (r *row) fields() []any { return wholeRow.dests(r) }
