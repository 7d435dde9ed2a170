// Command devidp is a development identity provider for trying zan's
// third-party sign-in without registering anywhere: an OpenID provider
// (mockoidc, with a one-field sign-in form: any name is a user) and a host
// platform that mints its own JWTs for any subject and publishes its keys.
// Not for production: there are no passwords.
//
//	go run ./examples/devidp
//
// then start zan with the flags it prints (see the README).
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/oauth2-proxy/mockoidc"
)

func main() {
	oidcAddr := flag.String("oidc-addr", "127.0.0.1:9998", "the OpenID provider's address")
	platformAddr := flag.String("platform-addr", "127.0.0.1:9997", "the host platform's address")
	clientID := flag.String("client-id", "zan", "the client id zan uses")
	clientSecret := flag.String("client-secret", "dev-secret", "the client secret zan uses")
	audience := flag.String("audience", "zan", "the aud of the platform's tokens")
	flag.Parse()

	issuer, err := startProvider(*oidcAddr, *clientID, *clientSecret)
	if err != nil {
		log.Fatal(err)
	}
	platform, err := startPlatform(*platformAddr, *audience)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf(`OpenID provider: %[1]s (sign in as any name)
host platform:   %[2]s (tokens: %[2]s/token?sub=NAME)

zan serve --dev \
  --oidc-provider 'id=dev,issuer=%[1]s,client-id=%[3]s,client-secret=%[4]s,name=Dev ID' \
  --jwt-jwks-url %[2]s/jwks.json --jwt-issuer %[2]s --jwt-audience %[5]s
`, issuer, platform, *clientID, *clientSecret, *audience)
	select {}
}

// signInForm is what the provider shows before it authorizes: the
// authorization request's parameters ride along as hidden fields.
var signInForm = template.Must(template.New("").Parse(`<!doctype html>
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dev ID</title>
<style>body{font:16px system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}input,button{font:inherit;padding:.4rem}</style>
<h1>Dev ID</h1>
<p>A development provider: any name signs in as that user.</p>
<form method="get">
{{range $k, $vs := .}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">{{end}}{{end}}
<label>Name <input name="dev_user" value="alice" autofocus required pattern="[A-Za-z0-9._-]{1,64}"></label>
<button id="dev-sign-in">Sign in</button>
</form>
`))

// startProvider runs mockoidc with a fixed client, behind the sign-in form.
func startProvider(addr, clientID, clientSecret string) (string, error) {
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		return "", err
	}
	m.ClientID, m.ClientSecret = clientID, clientSecret
	m.AccessTTL = 10 * time.Minute
	if _, err := m.Keypair.KeyID(); err != nil {
		return "", err
	}
	var mu sync.Mutex // mockoidc keeps its sessions in plain maps
	err = m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.AuthorizationEndpoint {
				q := r.URL.Query()
				user := q.Get("dev_user")
				if user == "" {
					w.Header().Set("Content-Type", "text/html; charset=utf-8")
					signInForm.Execute(w, q)
					return
				}
				m.QueueUser(&mockoidc.MockUser{Subject: user, PreferredUsername: user})
			}
			mu.Lock()
			defer mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	if err := m.Start(ln, nil); err != nil {
		return "", err
	}
	return m.Issuer(), nil
}

// startPlatform runs the host platform: its public key at /jwks.json, and
// /token?sub=NAME answering a JWT for NAME (valid an hour; with expired=1
// one that expired an hour ago).
func startPlatform(addr, audience string) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	const kid = "dev-1"
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	issuer := "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"},
		}})
	})
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		sub := r.URL.Query().Get("sub")
		if sub == "" {
			http.Error(w, "sub is required", http.StatusBadRequest)
			return
		}
		now := time.Now()
		exp := now.Add(time.Hour)
		if r.URL.Query().Get("expired") != "" {
			exp = now.Add(-time.Hour)
		}
		tok, err := jwt.Signed(signer).Claims(jwt.Claims{
			Issuer: issuer, Subject: sub, Audience: jwt.Audience{audience},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(exp),
		}).Serialize()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, tok)
	})
	go http.Serve(ln, mux)
	return issuer, nil
}
