package approvalpage

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"strings"
)

//go:embed static templates
var files embed.FS

// assetPrefix is where the page's stylesheet and script are served. The
// names carry a hash of the content, so browsers may keep them forever.
const assetPrefix = "/a/assets/"

// asset is one embedded file served under a content-addressed name.
type asset struct {
	url         string
	contentType string
	body        []byte
}

func loadAsset(name, contentType string) asset {
	body, err := files.ReadFile("static/" + name)
	if err != nil {
		panic(fmt.Sprintf("embedded asset %s: %v", name, err))
	}
	sum := sha256.Sum256(body)
	ext := path.Ext(name)
	return asset{
		url:         assetPrefix + strings.TrimSuffix(name, ext) + "-" + hex.EncodeToString(sum[:6]) + ext,
		contentType: contentType,
		body:        body,
	}
}

var (
	styleSheet = loadAsset("page.css", "text/css; charset=utf-8")
	script     = loadAsset("page.js", "text/javascript; charset=utf-8")
)

// serveAsset answers GET /a/assets/{name}; any other name is not found.
func serveAsset(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	for _, a := range []asset{styleSheet, script} {
		if r.URL.Path == a.url {
			w.Header().Set("Content-Type", a.contentType)
			// The security headers said no-store; a hashed name never
			// changes content, so this one may be cached for good.
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			_, _ = w.Write(a.body)
			return
		}
	}
	http.NotFound(w, r)
}
