package web

import (
	"io/fs"
	"net/http"
)

// StaticPrefix is where the stylesheet and the script are served.
const StaticPrefix = "/-/static/"

func staticHandler() http.Handler {
	sub, err := fs.Sub(kitTemplates, "static")
	if err != nil { // the embedded tree always has it
		return http.NotFoundHandler()
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}
