// Package web is the browser app: static files embedded in the binary,
// served at / by zan serve. No build step: plain HTML, CSS and JavaScript
// modules. See static/app.js for how it keeps the session token.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// csp lets the page load only its own scripts, styles and API: whatever a
// user wrote can never run as script, even if a bug put it in the page.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the app's files.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		// Small files, changed with every release: revalidate each load.
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
