// Package playground serves the tools a developer points at the API: the
// GraphiQL playground at / (bundled from web/playground and embedded, so it
// works with no internet) and the schema's SDL at /schema.graphql.
package playground

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

//go:embed dist
var dist embed.FS

// contentSecurityPolicy lets the page load only from its own origin.
// GraphiQL's editor (Monaco) sets inline styles and runs its language
// services in workers, and its stylesheet inlines its fonts as data: URLs;
// the bundle needs no eval and no other origin.
// connect-src 'self' covers the websocket to the same host.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; worker-src 'self'; " +
	"style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Options says which tools to serve.
type Options struct {
	// Playground serves GraphiQL at /.
	Playground bool
	// SDL, when not empty, is served at /schema.graphql.
	SDL []byte
}

// Routes are the handlers by ServeMux pattern. The bundle is read on the
// first request for the playground, not here: a server nobody opens the
// playground of keeps its 7 MB out of memory.
func Routes(o Options) map[string]http.Handler {
	routes := map[string]http.Handler{}
	if o.Playground {
		routes["GET /{$}"] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bundle().page.ServeHTTP(w, r)
		})
		routes["GET "+assetsRoot+"{version}/{name}"] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bundle().ServeHTTP(w, r)
		})
	}
	if len(o.SDL) > 0 {
		routes["GET /schema.graphql"] = sdlHandler(o.SDL)
	}
	return routes
}

// assetsRoot is where the bundle's files are, under their version.
const assetsRoot = "/playground/"

// assets are the bundle's files, under a version named by a hash of all of
// them: a new build is a new URL, so browsers may keep each one forever.
type assets struct {
	version string
	prefix  string // assetsRoot + version + "/"
	files   map[string]*file
	page    http.Handler
}

// file is one file of the bundle, read from the binary as it is served,
// and its gzip encoding once a client asked for it (GraphiQL's script is
// 5.2 MB, 1.4 MB gzipped).
type file struct {
	name string
	gzip func() []byte
}

// bundle hashes the embedded files once per process.
var bundle = sync.OnceValue(loadAssets)

func loadAssets() *assets {
	files := map[string]*file{}
	h := sha256.New()
	entries, err := fs.ReadDir(dist, "dist")
	if err != nil {
		panic(fmt.Sprintf("embedded playground: %v", err))
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		name := "dist/" + e.Name()
		f, err := dist.Open(name)
		if err != nil {
			panic(fmt.Sprintf("embedded playground file %s: %v", e.Name(), err))
		}
		info, _ := f.Stat() // embedded files always have their info
		fmt.Fprintf(h, "%s %d\n", e.Name(), info.Size())
		_, _ = io.Copy(h, f) // reading embedded files does not fail
		_ = f.Close()
		files[e.Name()] = &file{name: name, gzip: sync.OnceValue(func() []byte { return gzipped(name) })}
	}
	if files["playground.js"] == nil || files["playground.css"] == nil {
		panic("embedded playground: no bundle; run `npm ci && npm run build` in web/playground")
	}
	a := &assets{version: hex.EncodeToString(h.Sum(nil)[:8]), files: files}
	a.prefix = assetsRoot + a.version + "/"
	a.page = a.pageHandler()
	return a
}

var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".ttf": "font/ttf",
	".txt": "text/plain; charset=utf-8",
}

// ServeHTTP serves one file of the bundle, gzipped when the client takes
// it.
func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	f, ok := a.files[name]
	if !ok || r.PathValue("version") != a.version {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentTypes[path.Ext(name)])
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Vary", "Accept-Encoding")
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.gzip()))
		return
	}
	// An embedded file reads and seeks over the binary's own bytes: no
	// copy on the heap.
	body, err := dist.Open(f.name)
	if err != nil {
		http.Error(w, "embedded file missing", http.StatusInternalServerError)
		return
	}
	defer body.Close()
	http.ServeContent(w, r, name, time.Time{}, body.(io.ReadSeeker))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func gzipped(name string) []byte {
	body, _ := dist.ReadFile(name) // an embedded file: no error
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression) // a valid level: no error
	_, _ = zw.Write(body)                                  // writes to memory do not fail
	_ = zw.Close()
	return b.Bytes()
}

// pageHandler serves the HTML shell that loads the bundle.
func (a *assets) pageHandler() http.Handler {
	html := []byte(strings.NewReplacer("{{prefix}}", a.prefix).Replace(pageHTML))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		_, _ = w.Write(html)
	})
}

const pageHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ottr GraphQL playground</title>
<link rel="stylesheet" href="{{prefix}}playground.css">
<script src="{{prefix}}playground.js" defer></script>
</head>
<body>
<div id="graphiql">Loading the playground…</div>
<noscript>The playground needs JavaScript. The schema is at <a href="/schema.graphql">/schema.graphql</a>.</noscript>
</body>
</html>
`

// sdlHandler serves the schema in the GraphQL schema language.
func sdlHandler(sdl []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/graphql; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "schema.graphql", time.Time{}, bytes.NewReader(sdl))
	})
}
