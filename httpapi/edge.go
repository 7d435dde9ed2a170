package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/zanlabs/zan"
)

// routeMethods are the methods a route can be registered for.
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowed returns the methods that have a route for r's path, apart from
// the catch-all "/".
func allowed(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	probe := *r
	for _, m := range routeMethods {
		probe.Method = m
		if _, p := mux.Handler(&probe); p != "" && p != "/" {
			out = append(out, m)
		}
	}
	return out
}

// noRoute answers a request that no route took: the web app's files, an
// OPTIONS or 405 with Allow for a path that has routes for other methods,
// else 404.
func (s *Server) noRoute(mux *http.ServeMux) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		api := strings.HasPrefix(r.URL.Path, "/api/")
		if s.Web != nil && !api && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			s.Web.ServeHTTP(w, r)
			return nil
		}
		methods := allowed(mux, r)
		if len(methods) == 0 && s.Web != nil && !api {
			methods = []string{http.MethodGet, http.MethodHead}
		}
		if len(methods) == 0 {
			return zan.Errorf(zan.ENotFound, "no route for %s %s", r.Method, r.URL.Path)
		}
		w.Header().Set("Allow", strings.Join(append(methods, http.MethodOptions), ", "))
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return zan.Errorf(zan.EMethodNotAllowed, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(methods, ", "))
	}
}

// cors adds the CORS headers for an allowed origin and answers its
// preflight requests; it reports whether the request was answered. Only
// the origins configured are allowed ("*": any); none by default, so that
// by default browsers keep other sites' pages from reading the API. The
// session travels in the Authorization header, never in a cookie, so no
// credentials mode is needed.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	if len(s.CORSOrigins) == 0 {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !(slices.Contains(s.CORSOrigins, "*") || slices.Contains(s.CORSOrigins, origin)) {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate")
		return false
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}
