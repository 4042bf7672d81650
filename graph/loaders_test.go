package graph

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vikstrous/dataloadgen"
)

// A page that knows its keys reads them at once: its fields find them in
// the loader and never wait for the loader's window, and a key whose read
// failed is read again by the field that asks for it, which sees the error.
func TestFillPrimesWhatItRead(t *testing.T) {
	var fetched atomic.Int32
	failed := errors.New("read failed")
	loader := dataloadgen.NewLoader(func(_ context.Context, keys []string) ([]string, []error) {
		fetched.Add(1)
		errs := make([]error, len(keys))
		for i := range keys {
			errs[i] = failed
		}
		return make([]string, len(keys)), errs
	}, dataloadgen.WithWait(time.Hour))

	fill(context.Background(), loader, func(_ context.Context, keys []string) ([]string, []error) {
		values, errs := make([]string, len(keys)), make([]error, len(keys))
		for i, k := range keys {
			if k == "bad" {
				errs[i] = failed
				continue
			}
			values[i] = "value of " + k
		}
		return values, errs
	}, []string{"a", "b", "bad"})

	for _, k := range []string{"a", "b"} {
		done := make(chan string, 1)
		go func() {
			v, _ := loader.Load(context.Background(), k)
			done <- v
		}()
		select {
		case v := <-done:
			if v != "value of "+k {
				t.Fatalf("Load(%q) = %q, want the value fill read", k, v)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Load(%q) waited for the loader's window: fill did not prime it", k)
		}
	}
	if n := fetched.Load(); n != 0 {
		t.Fatalf("the loader read %d times for keys fill had read", n)
	}

	// The key fill could not read is left to the loader (Prime is true
	// only for a key the loader does not hold yet).
	if !loader.Prime("bad", "") {
		t.Fatal("fill primed the key whose read failed")
	}
}

// A read that fails as a whole primes nothing.
func TestFillPrimesNothingWhenTheReadFails(t *testing.T) {
	loader := dataloadgen.NewLoader(func(_ context.Context, keys []string) ([]string, []error) {
		return make([]string, len(keys)), nil
	}, dataloadgen.WithWait(time.Millisecond))
	fill(context.Background(), loader, func(_ context.Context, keys []string) ([]string, []error) {
		return make([]string, len(keys)), []error{errors.New("read failed")}
	}, []string{"a", "b"})
	for _, k := range []string{"a", "b"} {
		if !loader.Prime(k, "primed now") {
			t.Fatalf("fill primed %q after a failed read", k)
		}
	}
}
