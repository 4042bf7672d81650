// Command gqlgenrewrite runs after gqlgen (go generate in graph/): it
// points calls in the generated code at functions of the graph package
// with the same parameters (for a method, with its receiver and what the
// caller has in scope before them), where gqlgen's own do work this server
// does not need (graph/executor.go says what and why). It also makes the
// fields that read a struct field and can never be null marshal it
// directly (readPlainFields). Given graph/model's generated file too, it
// makes the enums there write their values without fmt (modelRewrites).
// gqlgen's templates offer no hook for it.
//
//	go run ./internal/tools/gqlgenrewrite generated.go [model/models_gen.go]
package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
)

// rewrites are the calls as gqlgen's templates write them, and what they
// become.
var rewrites = []struct{ gqlgen, ours string }{
	{"graphql.MarshalSliceConcurrently(", "marshalSliceConcurrently("},
	{"graphql.NewDeferredGroup(", "newDeferredGroup("},
	{"return graphql.ResolveField(", "return resolveFieldValue("},
	// The end of every object's marshalling, where fields is in scope.
	{"\n\treturn out\n}\n", "\n\treturn objectFields{fields, out}\n}\n"},
	{"out.ResolveConcurrently(ec.OperationContext, &deferred,", "resolveField(ctx, field, out, ec.OperationContext, &deferred,"},
	// collectFields caches in the operation's executionContext.
	{"type executionContext struct {\n", "type executionContext struct {\n\tcollected collectedFields // collectFields' cache\n"},
	{"graphql.CollectFields(ec.OperationContext, sel, ", "collectFields(&ec.collected, ec.OperationContext, sel, "},
}

// modelRewrites are the rewrites of the models' file (package model; see
// graph/model/enum.go): every enum's MarshalGQL.
var modelRewrites = []struct{ gqlgen, ours string }{
	{"\t_, _ = fmt.Fprint(w, strconv.Quote(e.String()))\n", "\twriteEnum(w, e.String())\n"},
}

func main() {
	if len(os.Args) != 2 && len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gqlgenrewrite <generated.go> [<models_gen.go>]")
		os.Exit(2)
	}
	err := rewriteFile(os.Args[1], rewrite)
	if err == nil && len(os.Args) == 3 {
		err = rewriteFile(os.Args[2], rewriteModels)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gqlgenrewrite:", err)
		os.Exit(1)
	}
}

func rewriteFile(path string, rewrite func([]byte) ([]byte, error)) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := rewrite(src)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

// plainField is gqlgen's resolution of a field that reads its object's own
// struct field, with no directive: a field context, two closures and the
// field middleware around a read of memory. Names in generated code may
// hold non-ASCII letters (gqlgen's mangled type names), hence [^(\s]+.
var plainField = regexp.MustCompile(`return graphql\.ResolveField\(
\t\tctx,
\t\tec\.OperationContext,
\t\tfield,
\t\tfunc\(ctx context\.Context, field graphql\.CollectedField\) \(\*graphql\.FieldContext, error\) \{
\t\t\treturn ec\.fieldContext_[^(\s]+\(ctx, field\)
\t\t\},
\t\tfunc\(ctx context\.Context\) \(any, error\) \{
\t\t\treturn obj\.([A-Za-z0-9_]+), nil
\t\t\},
\t\tnil,
\t\tfunc\(ctx context\.Context, selections ast\.SelectionSet, v [^)]+\) graphql\.Marshaler \{
\t\t\treturn ec\.([^(\s]+)\(ctx, selections, v\)
\t\t\},
\t\ttrue,
\t\ttrue,
\t\)`)

// neverNull matches the body of a generated marshaller that cannot answer
// null, so never reports an error and never needs the field's context
// (its path): a String!, ID!, Int! or Boolean! (graphql.MarshalString,
// MarshalID, MarshalInt and MarshalBoolean always write a value), or an
// enum, which is its own marshaller.
var neverNull = regexp.MustCompile(`^\{
(\t_ = sel
\tres := graphql\.Marshal(String|ID|Int|Boolean)\(v\)
\tif res == graphql\.Null \{
\t\tgraphql\.AddInvalidNullFromMarshaler\(ctx, "[A-Za-z]+!"\)
\t\}
\treturn res
|\treturn v
)\}
`)

// nonNullTime matches the body of gqlgen's marshaller of a Time!:
// graphql.MarshalTime, null (an error at the field's path) when the time
// is zero.
var nonNullTime = regexp.MustCompile(`^\{
\t_ = sel
\tres := graphql\.MarshalTime\(v\)
\tif res == graphql\.Null \{
\t\tgraphql\.AddInvalidNullFromMarshaler\(ctx, "Time!"\)
\t\}
\treturn res
\}
`)

// readPlainFields makes a plain field whose marshaller never answers null
// marshal its struct field directly: nothing of what gqlgen builds around
// it can be seen in the answer. On the dashboard's page these are most of
// the fields (ids, names, paths, statuses, event types). A String! or ID!
// becomes a pointer to its struct field (graph's stringValue, written by
// graphql.MarshalString), and so does an enum, its own marshaller. A plain Time! is a pointer to its field too
// (timeValue, which writes what graphql.MarshalTime writes) unless it is
// zero, when gqlgen's resolution gives the null's error its path. A plain field with any other marshaller (a list, an object) is
// left as it is. Finding none means gqlgen changed its template.
func readPlainFields(src []byte) ([]byte, error) {
	found, read, times := 0, 0, 0
	out := plainField.ReplaceAllFunc(src, func(call []byte) []byte {
		found++
		m := plainField.FindSubmatch(call)
		field, marshaller := m[1], m[2]
		body := marshallerBody(src, marshaller)
		switch m := neverNull.FindSubmatch(body); {
		case m != nil && (string(m[2]) == "String" || string(m[2]) == "ID"):
			read++
			return []byte(fmt.Sprintf("return (*stringValue)(&obj.%s)", field))
		case m != nil && string(m[1]) == "\treturn v\n":
			// An enum is its own marshaller, with a value receiver (gqlgen's
			// "return v" compiles only then), so a pointer to it is one.
			read++
			return []byte(fmt.Sprintf("return &obj.%s", field))
		case m != nil:
			read++
			return []byte(fmt.Sprintf("return ec.%s(ctx, field.Selections, obj.%s)", marshaller, field))
		case nonNullTime.Match(body):
			times++
			return []byte(fmt.Sprintf("if !obj.%s.IsZero() {\n\t\treturn (*timeValue)(&obj.%s)\n\t}\n\t%s", field, field, call))
		}
		return call
	})
	if found == 0 || read == 0 || times == 0 {
		return nil, fmt.Errorf("no plain field to read directly (%d found, %d read, %d times)", found, read, times)
	}
	return out, nil
}

// marshallerBody is the body of the generated marshaller named name, from
// its opening brace, or nothing if src does not define it.
func marshallerBody(src, name []byte) []byte {
	head := fmt.Appendf(nil, "func (ec *executionContext) %s(ctx context.Context, sel ast.SelectionSet, v ", name)
	start := bytes.Index(src, head)
	if start < 0 {
		return nil
	}
	body := src[start:]
	open := bytes.Index(body, []byte(" {\n"))
	end := bytes.Index(body, []byte("\n}\n"))
	if open < 0 || end < open {
		return nil
	}
	return body[open+1 : end+3]
}

// rewrite replaces every call of each rewrite. A call found nowhere means
// gqlgen changed its templates: better to stop than to let gqlgen's
// function come back unnoticed.
func rewrite(src []byte) ([]byte, error) {
	src, err := readPlainFields(src)
	if err != nil {
		return nil, err
	}
	return replaceAll(src, rewrites)
}

// rewriteModels replaces every enum's marshalling in the models' file.
func rewriteModels(src []byte) ([]byte, error) {
	return replaceAll(src, modelRewrites)
}

// replaceAll replaces every occurrence of each rewrite, and fails on one
// found nowhere.
func replaceAll(src []byte, rewrites []struct{ gqlgen, ours string }) ([]byte, error) {
	for _, r := range rewrites {
		if !bytes.Contains(src, []byte(r.gqlgen)) {
			return nil, fmt.Errorf("no call of %s to rewrite", r.gqlgen)
		}
		src = bytes.ReplaceAll(src, []byte(r.gqlgen), []byte(r.ours))
	}
	return src, nil
}
