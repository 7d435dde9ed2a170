package client

import (
	"context"
	"net/url"
	"time"
)

// Third-party sign-in. Starting a sign-in, or the linking of a provider,
// and its callback are a browser's business (the server binds them to the
// browser with a cookie); these are the calls around them. A host
// platform's JWT needs no call: SetToken(jwt) and call away.

// Provider is a sign-in provider configured on the server.
type Provider struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Providers lists the server's sign-in providers.
func (c *Client) Providers(ctx context.Context) ([]Provider, error) {
	var out struct {
		Items []Provider `json:"items"`
	}
	err := c.call(ctx, "GET", "/api/v1/auth/providers", nil, nil, &out, true)
	return out.Items, err
}

// ExchangeSignIn trades the one-time code of a finished sign-in (the
// #zan_oidc= fragment the callback redirected to) for a session; the client
// sends the new token from then on.
func (c *Client) ExchangeSignIn(ctx context.Context, code string) (User, error) {
	var out struct {
		Token string `json:"token"`
		User  User   `json:"user"`
	}
	if err := c.call(ctx, "POST", "/api/v1/auth/oidc/exchange", nil, map[string]string{"code": code}, &out, false); err != nil {
		return User{}, err
	}
	c.SetToken(out.Token)
	return out.User, nil
}

// Identity is one of the caller's linked identities.
type Identity struct {
	Provider string    `json:"provider"` // "" for a host platform's
	Name     string    `json:"name"`
	Issuer   string    `json:"issuer"`
	LinkedAt time.Time `json:"linked_at"`
}

// Identities returns the caller's ways in: whether the account has a
// phone, and its linked identities.
func (c *Client) Identities(ctx context.Context) (phone bool, ids []Identity, err error) {
	var out struct {
		Phone bool       `json:"phone"`
		Items []Identity `json:"items"`
	}
	err = c.call(ctx, "GET", "/api/v1/me/identities", nil, nil, &out, true)
	return out.Phone, out.Items, err
}

// UnlinkIdentity unlinks a provider from the caller's account; the last
// way in is refused (Conflict).
func (c *Client) UnlinkIdentity(ctx context.Context, provider string) error {
	return c.call(ctx, "DELETE", "/api/v1/me/identities/"+url.PathEscape(provider), nil, nil, nil, false)
}
