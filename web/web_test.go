package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestServesTheApp(t *testing.T) {
	h := Handler()
	for _, c := range []struct{ path, ctype, contains string }{
		{"/", "text/html", `<script type="module" src="/app.js">`},
		{"/app.js", "javascript", "textContent"},
		{"/style.css", "text/css", "--accent"},
	} {
		rec := get(h, c.path)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), c.ctype) || !strings.Contains(rec.Body.String(), c.contains) {
			t.Errorf("%s: %d %q", c.path, rec.Code, rec.Header().Get("Content-Type"))
		}
		if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("%s: no CSP", c.path)
		}
	}
	if rec := get(h, "/nothing.js"); rec.Code != http.StatusNotFound {
		t.Errorf("missing file: %d", rec.Code)
	}

	// Nothing a user wrote may reach the HTML parser.
	for _, name := range []string{"/app.js", "/signin.js", "/inbox.js", "/ops.js"} {
		js := get(h, name).Body.String()
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
			if strings.Contains(js, bad) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
	}
}

func TestCompressionAndRevalidation(t *testing.T) {
	h := Handler()
	plain := get(h, "/app.js")
	gz := get(h, "/app.js", "Accept-Encoding", "br, gzip;q=0.8")
	if gz.Header().Get("Content-Encoding") != "gzip" || gz.Body.Len() >= plain.Body.Len()/2 {
		t.Fatalf("gzip: %q, %d bytes against %d", gz.Header().Get("Content-Encoding"), gz.Body.Len(), plain.Body.Len())
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); string(b) != plain.Body.String() {
		t.Fatal("the compressed file is not the file")
	}
	if get(h, "/app.js", "Accept-Encoding", "gzip;q=0").Header().Get("Content-Encoding") != "" {
		t.Fatal("gzip sent to a client that refused it")
	}
	for _, rec := range []*httptest.ResponseRecorder{plain, gz} {
		etag := rec.Header().Get("ETag")
		again := get(h, "/app.js", "If-None-Match", etag, "Accept-Encoding", rec.Header().Get("Content-Encoding"))
		if etag == "" || again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Fatalf("revalidating %s: %d, %d bytes", etag, again.Code, again.Body.Len())
		}
	}
	if plain.Header().Get("ETag") == gz.Header().Get("ETag") {
		t.Fatal("one ETag for two encodings")
	}
}
