package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/identity"
)

// Third-party sign-in (OpenID Connect) and host-platform tokens; the
// protocol is in package identity, this is its HTTP face.

// browserCookie binds a sign-in to the browser that started it: the
// callback must carry it (see identity.flow). HttpOnly, and SameSite=Lax so
// that it comes along on the provider's redirect back, a top-level GET. On
// https it is a __Host- cookie (Secure, Path=/, no Domain): a sibling
// subdomain cannot plant one of its choosing, which would bind a victim's
// browser to a sign-in the attacker started.
func (s *Server) browserCookie(r *http.Request) (name, path string, secure bool) {
	if strings.HasPrefix(s.Identity.SiteBase(siteBase(r)), "https://") {
		return "__Host-zan_oidc", "/", true
	}
	return "zan_oidc", "/api/v1/", false
}

// authenticate returns the user of a bearer token: a host-platform JWT
// when zan accepts them and the token is one (strict: a bad one is a 401
// whatever the endpoint, so a platform hears of a token it got wrong), a
// session otherwise.
func (s *Server) authenticate(ctx context.Context, tok string) (uid int64, strict bool, err error) {
	if s.Identity.HostTokens() && identity.IsJWT(tok) {
		uid, err := s.Identity.AuthenticateJWT(ctx, tok)
		return uid, true, err
	}
	uid, err = s.Accounts.Authenticate(ctx, tok)
	return uid, false, err
}

func (s *Server) providers(w http.ResponseWriter, r *http.Request) error {
	items := []identity.Provider{}
	if s.Identity != nil {
		items = s.Identity.Providers()
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// needIdentity answers 404 for the sign-in calls when no provider is set.
func (s *Server) needIdentity() error {
	if s.Identity == nil {
		return zan.Errorf(zan.ENotFound, "no sign-in providers are configured")
	}
	return nil
}

// browser returns the browser's binding, setting a new cookie when it has
// none (or one not made here).
func (s *Server) browser(w http.ResponseWriter, r *http.Request) string {
	name, path, secure := s.browserCookie(r)
	if c, err := r.Cookie(name); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	v := identity.NewBrowserBinding()
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: v, Path: path, MaxAge: 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure,
	})
	return v
}

// siteBase is the site's address as r reached it (behind a proxy that
// terminates TLS, X-Forwarded-Proto says https). --public-url takes its
// place when set; a Host header that is not the registered one makes a
// callback URL the provider refuses.
func siteBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) error {
	if err := s.needIdentity(); err != nil {
		return err
	}
	to, err := s.Identity.Start(r.Context(), r.PathValue("provider"), identity.StartRequest{
		ReturnTo: r.URL.Query().Get("return_to"), Browser: s.browser(w, r), Base: siteBase(r),
	})
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusFound)
	return nil
}

func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	if err := s.needIdentity(); err != nil {
		return err
	}
	var browser string
	name, _, _ := s.browserCookie(r)
	if c, err := r.Cookie(name); err == nil {
		browser = c.Value
	}
	to, err := s.Identity.Callback(r.Context(), r.PathValue("provider"), r.URL.Query(), browser)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	// The callback's own URL (code and state) must not follow the browser
	// to the next page as a Referer.
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, to, http.StatusFound)
	return nil
}

func (s *Server) oidcExchange(w http.ResponseWriter, r *http.Request) error {
	if err := s.needIdentity(); err != nil {
		return err
	}
	var req struct {
		Code string `json:"code"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	token, u, err := s.Identity.Exchange(r.Context(), req.Code)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, map[string]any{"token": token, "user": publicUser(u, true)})
}

type identityJSON struct {
	Provider string `json:"provider,omitempty"`
	Name     string `json:"name,omitempty"`
	Issuer   string `json:"issuer"`
	LinkedAt Time   `json:"linked_at"`
}

func (s *Server) myIdentities(w http.ResponseWriter, r *http.Request) error {
	if err := s.needIdentity(); err != nil {
		return err
	}
	phone, linked, err := s.Identity.Ways(r.Context(), userID(r))
	if err != nil {
		return err
	}
	items := make([]identityJSON, len(linked))
	for i, l := range linked {
		items[i] = identityJSON{Provider: l.Provider, Name: l.Name, Issuer: l.Issuer, LinkedAt: Time(l.LinkedAt)}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"phone": phone, "items": items})
}

// linkIdentity starts linking a provider to the signed-in account. It is a
// POST with the bearer token (a link started by a plain navigation could be
// forged by another site), so it answers with the provider's URL for the
// app to navigate to rather than a redirect.
func (s *Server) linkIdentity(w http.ResponseWriter, r *http.Request) error {
	if err := s.needIdentity(); err != nil {
		return err
	}
	var req struct {
		ReturnTo string `json:"return_to"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req); err != nil {
			return err
		}
	}
	to, err := s.Identity.Start(r.Context(), r.PathValue("provider"), identity.StartRequest{
		ReturnTo: req.ReturnTo, Browser: s.browser(w, r), Base: siteBase(r), Link: userID(r),
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"redirect_url": to})
}

func (s *Server) unlinkIdentity(w http.ResponseWriter, r *http.Request) error {
	if err := s.needIdentity(); err != nil {
		return err
	}
	if err := s.Identity.Unlink(r.Context(), userID(r), r.PathValue("provider")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
