package httpserver

import (
	"net/http"

	"github.com/ottr/backend/internal/platform/apperr"
	"path"
	"strings"
)

// refuseUncleanAPIPaths answers 400 for a REST path (/v1/…) with an empty,
// "." or ".." segment. ServeMux would otherwise redirect it to the cleaned
// path: GET /v1/key/deploy/../prod would answer with a redirect to another
// key, and a client that follows it reads or writes that key instead.
func refuseUncleanAPIPaths(errs *apperr.Writers, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") && !isCleanPath(r.URL.Path) {
			errs.Write(w, r, apperr.Invalid("path", "the URL path must not have empty, '.' or '..' segments; write the path out in full"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isCleanPath reports whether ServeMux would leave p as it is: p is its
// own path.Clean, but for a trailing slash.
func isCleanPath(p string) bool {
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean == p
}
