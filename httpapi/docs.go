package httpapi

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
)

//go:embed openapi.json
var openAPI []byte

//go:embed docs.html
var docsPage []byte

// docsCSP is the web app's policy for the docs page: its one inline script
// and style are allowed by their hashes, nothing else inline, nothing from
// elsewhere.
var docsCSP = "default-src 'self'; script-src " + inlineHash(docsPage, "script") +
	"; style-src " + inlineHash(docsPage, "style") +
	"; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// inlineHash is the CSP source of the first <tag>...</tag> in page.
func inlineHash(page []byte, tag string) string {
	_, rest, ok := bytes.Cut(page, []byte("<"+tag+">"))
	body, _, ok2 := bytes.Cut(rest, []byte("</"+tag+">"))
	if !ok || !ok2 {
		return "'none'"
	}
	sum := sha256.Sum256(body)
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// securityHeaders are the web app's headers, for the pages served here.
func securityHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

func serveOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(openAPI)
	return nil
}

func serveDocs(w http.ResponseWriter, r *http.Request) error {
	securityHeaders(w.Header(), docsCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(docsPage)
	return nil
}
