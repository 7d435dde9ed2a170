package identity

import (
	"fmt"
	"strings"
)

// ParseProviders reads providers written as the --oidc-provider flag takes
// them: key=value pairs separated by commas, providers separated by
// semicolons (so that one environment variable can hold several):
//
//	id=google,issuer=https://accounts.google.com,client-id=ID,client-secret=SECRET,name=Google
//
// id, issuer and client-id are required; name defaults to the id, and
// client-secret may be left out for a public client (PKCE alone). Values
// cannot hold commas or semicolons.
func ParseProviders(s string) ([]ProviderConfig, error) {
	var out []ProviderConfig
	for _, one := range strings.Split(s, ";") {
		if strings.TrimSpace(one) == "" {
			continue
		}
		var p ProviderConfig
		for _, kv := range strings.Split(one, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				return nil, fmt.Errorf("OpenID provider %q: %q is not key=value", one, kv)
			}
			switch k {
			case "id":
				p.ID = v
			case "issuer":
				p.Issuer = v
			case "client-id":
				p.ClientID = v
			case "client-secret":
				p.ClientSecret = v
			case "name":
				p.Name = v
			default:
				return nil, fmt.Errorf("OpenID provider %q: unknown key %q (want id, issuer, client-id, client-secret, name)", one, k)
			}
		}
		if p.Name == "" {
			p.Name = p.ID
		}
		if err := p.validate(); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
