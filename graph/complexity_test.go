package graph

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// complexityLimit caches an operation's complexity by its document: that
// holds only while no field has a complexity function, which could read the
// field's arguments and so the variables.
func TestNoFieldHasAComplexityFunction(t *testing.T) {
	t.Parallel()
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				walk(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		case reflect.Func:
			if !v.IsNil() {
				t.Errorf("%s has a complexity function: key complexityLimit's cache by the variables too", path)
			}
		default:
			t.Fatalf("%s is a %s; expected only structs of functions", path, v.Kind())
		}
	}
	walk("Complexity", reflect.ValueOf(newConfig(&Resolver{}).Complexity))
}

// The limit holds for an operation seen before as for a new one, per
// operation of a document, and is not confused by the variables.
func TestComplexityLimitOnRepeatedOperations(t *testing.T) {
	t.Parallel()
	h := NewHandler(&Resolver{}, HandlerOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var wide strings.Builder
	wide.WriteString("query Wide($id: ID!) { x: approval(id: $id) { id }")
	for i := range 300 {
		fmt.Fprintf(&wide, " a%d: projects { id name }", i)
	}
	wide.WriteString(" } query Narrow { __typename }")
	post := func(op string, try int) (code, message string) {
		params := map[string]any{"query": wide.String(), "operationName": op}
		if op == "Wide" {
			params["variables"] = map[string]any{"id": fmt.Sprint(try)}
		}
		body, _ := json.Marshal(params)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		var out struct {
			Data   map[string]any
			Errors []struct {
				Message    string
				Extensions map[string]any
			}
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: %v: %s", op, err, rec.Body)
		}
		if len(out.Errors) == 0 {
			return "", fmt.Sprint(out.Data)
		}
		c, _ := out.Errors[0].Extensions["code"].(string)
		return c, out.Errors[0].Message
	}
	for i := range 3 {
		if code, msg := post("Wide", i); code != "COMPLEXITY_LIMIT_EXCEEDED" || msg != "operation has complexity 902, which exceeds the limit of 500" {
			t.Fatalf("Wide, try %d: %s %q", i, code, msg)
		}
		if code, msg := post("Narrow", i); code != "" || msg != "map[__typename:Query]" {
			t.Fatalf("Narrow, try %d: %s %q", i, code, msg)
		}
	}
}
