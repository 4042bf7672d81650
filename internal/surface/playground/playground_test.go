package playground

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The bundle's files go gzipped to clients that take it, as they are to
// those that do not, and the page names only files that exist.
func TestBundleIsServedWholeAndGzipped(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	for pattern, h := range Routes(Options{Playground: true, SDL: []byte("type Query { a: Int }")}) {
		mux.Handle(pattern, h)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	a := bundle()

	get := func(path, encoding string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Accept-Encoding", encoding) // set: the transport then does not decode
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}

	_, page := get("/", "")
	for name, f := range a.files {
		if strings.HasSuffix(name, ".txt") || strings.HasSuffix(name, ".ttf") || strings.Contains(name, "worker") {
			continue
		}
		if !bytes.Contains(page, []byte(a.prefix+name)) {
			t.Errorf("the page does not load %s", name)
		}
		want, err := dist.ReadFile(f.name)
		if err != nil {
			t.Fatal(err)
		}
		resp, plain := get(a.prefix+name, "identity")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(plain, want) {
			t.Fatalf("%s without gzip: %d %q, %d bytes", name, resp.StatusCode, resp.Header.Get("Content-Encoding"), len(plain))
		}
		resp, packed := get(a.prefix+name, "br, gzip;q=0.8")
		if resp.Header.Get("Content-Encoding") != "gzip" || len(packed) >= len(plain) || resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("%s with gzip: %q, %d bytes of %d", name, resp.Header.Get("Content-Encoding"), len(packed), len(plain))
		}
		zr, err := gzip.NewReader(bytes.NewReader(packed))
		if err != nil {
			t.Fatal(err)
		}
		if unpacked, err := io.ReadAll(zr); err != nil || !bytes.Equal(unpacked, plain) {
			t.Fatalf("%s gzipped is not the file: %v", name, err)
		}
		if resp, _ := get(a.prefix+name, "gzip;q=0"); resp.Header.Get("Content-Encoding") != "" {
			t.Fatalf("%s gzipped for a client that refuses gzip", name)
		}
	}
	if resp, _ := get(assetsRoot+"0123456789abcdef/playground.js", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a file under another version: %d, want 404", resp.StatusCode)
	}
	if resp, sdl := get("/schema.graphql", ""); resp.StatusCode != http.StatusOK || string(sdl) != "type Query { a: Int }" {
		t.Fatalf("GET /schema.graphql: %d %q", resp.StatusCode, sdl)
	}
}
