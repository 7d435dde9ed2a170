// Package httpapi serves the HTTP contract (API.md) over the services.
package httpapi

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/accounts"
	"github.com/zanlabs/zan/blogs"
	"github.com/zanlabs/zan/identity"
	"github.com/zanlabs/zan/likes"
	"github.com/zanlabs/zan/live"
	"github.com/zanlabs/zan/notify"
	"github.com/zanlabs/zan/photos"
	"github.com/zanlabs/zan/reconcile"
	"github.com/zanlabs/zan/shops"
	"github.com/zanlabs/zan/vouchers"
	"github.com/zanlabs/zan/webhook"
)

// MaxBody is the largest request body accepted.
const MaxBody = 64 << 10

// MaxBatch is the most targets one batch call takes.
const MaxBatch = 200

// Server holds what the handlers need.
type Server struct {
	Accounts *accounts.Service
	// Identity serves sign-in through OpenID providers and host-platform
	// tokens; nil: none configured.
	Identity *identity.Service
	Likes    *likes.Service
	Blogs    *blogs.Service
	// Photos takes uploads and serves them; nil: uploads answer 503.
	Photos   *photos.Service
	Shops    *shops.Service
	Vouchers *vouchers.Service
	// Live feeds the live count streams.
	Live *live.Hub
	// Notify serves the inboxes; nil: notifications answer 503.
	Notify *notify.Service
	// Inbox wakes the unread-count streams.
	Inbox *notify.Hub
	// Log is the event log, for the dead-letter admin calls.
	Log zan.EventLog
	// Webhooks serves the webhook admin calls; nil: they answer 404.
	Webhooks *webhook.Deliverer
	// Reconciler serves the reconcile admin call.
	Reconciler *reconcile.Reconciler
	// Migration serves the online migration admin calls; nil: none runs.
	Migration Migration
	// Ready checks every configured dependency for /readyz.
	Ready func(ctx context.Context) error
	// AdminToken enables admin calls; empty: they answer 403.
	AdminToken string
	Logger     *slog.Logger
	// AccessLog logs every request at info level (else debug).
	AccessLog bool
	// Web serves the browser app at every GET path outside /api/; nil: none.
	Web http.Handler

	// Clients are the budgets of client addresses, and the proxies whose
	// X-Forwarded-For is believed.
	Clients ClientLimits
	// CORSOrigins are the origins whose pages may call the API from a
	// browser ("*": any); none: no CORS headers.
	CORSOrigins []string

	streams       streams
	clientStreams streamSlots
}

// Handler returns the routes of the contract, wrapped in the middleware.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	mux := http.NewServeMux()
	h := func(pattern string, fn handlerFunc) { mux.Handle(pattern, s.wrap(fn)) }

	h("POST /api/v1/auth/code", s.sendCode)
	h("POST /api/v1/auth/login", s.login)
	h("POST /api/v1/auth/logout", s.auth(s.logout))
	h("GET /api/v1/me", s.auth(s.me))
	h("PATCH /api/v1/me", s.auth(s.updateMe))
	h("GET /api/v1/users/{uid}", s.getUser)

	h("GET /api/v1/auth/providers", s.providers)
	h("GET /api/v1/auth/oidc/{provider}/start", s.oidcStart)
	h("GET /api/v1/auth/oidc/{provider}/callback", s.oidcCallback)
	h("POST /api/v1/auth/oidc/exchange", s.oidcExchange)
	h("GET /api/v1/me/identities", s.auth(s.myIdentities))
	h("POST /api/v1/me/identities/{provider}", s.auth(s.linkIdentity))
	h("DELETE /api/v1/me/identities/{provider}", s.auth(s.unlinkIdentity))

	h("GET /api/v1/likes", s.batchLikes)
	h("GET /api/v1/likes/stream", s.likeStream)
	h("PUT /api/v1/likes/{type}/{id}", s.auth(s.like))
	h("DELETE /api/v1/likes/{type}/{id}", s.auth(s.unlike))
	h("GET /api/v1/likes/{type}/{id}", s.getLike)
	h("GET /api/v1/likes/{type}/{id}/users", s.likers)
	h("GET /api/v1/likes/{type}/{id}/users/common", s.commonLikers)
	h("GET /api/v1/users/{uid}/likes", s.userLikes)

	h("POST /api/v1/blogs", s.auth(s.createBlog))
	h("GET /api/v1/blogs", s.listBlogs)
	h("GET /api/v1/blogs/{id}", s.getBlog)
	h("PATCH /api/v1/blogs/{id}", s.auth(s.updateBlog))
	h("DELETE /api/v1/blogs/{id}", s.auth(s.deleteBlog))
	h("GET /api/v1/users/{uid}/blogs", s.userBlogs)
	h("POST /api/v1/photos", s.auth(s.uploadPhoto)) // uploadPath
	h("GET /photos/{id}", s.getPhoto)
	h("GET /photos/{id}/thumb", s.getThumb)

	h("GET /api/v1/notifications", s.auth(s.notifications))
	h("GET /api/v1/notifications/unread", s.auth(s.unreadNotifications))
	h("POST /api/v1/notifications/read", s.auth(s.readNotifications))
	h("GET /api/v1/notifications/stream", s.auth(s.notificationStream))

	h("POST /api/v1/shops", s.admin(s.createShop))
	h("GET /api/v1/shops", s.listShops)
	h("GET /api/v1/shops/nearby", s.nearbyShops)
	h("GET /api/v1/shops/{id}", s.getShop)
	h("PUT /api/v1/shops/{id}", s.admin(s.updateShop))
	h("GET /api/v1/shops/{id}/vouchers", s.shopVouchers)
	h("POST /api/v1/vouchers", s.admin(s.createVoucher))
	h("GET /api/v1/vouchers/{id}", s.getVoucher)
	h("POST /api/v1/vouchers/{id}/orders", s.auth(s.order))
	h("GET /api/v1/orders/{id}", s.auth(s.getOrder))
	h("GET /api/v1/me/orders", s.auth(s.myOrders))

	h("GET /api/v1/admin/dlq", s.admin(s.listDeadLetters))
	h("POST /api/v1/admin/dlq/replay", s.admin(s.replayDeadLetters))
	h("POST /api/v1/admin/reconcile", s.admin(s.reconcile))
	h("POST /api/v1/admin/webhooks", s.admin(s.createWebhook))
	h("GET /api/v1/admin/webhooks", s.admin(s.listWebhooks))
	h("DELETE /api/v1/admin/webhooks/{id}", s.admin(s.deleteWebhook))
	h("GET /api/v1/admin/webhooks/{id}/dead", s.admin(s.listWebhookDead))
	h("POST /api/v1/admin/webhooks/{id}/dead/replay", s.admin(s.replayWebhookDead))
	h("GET /api/v1/admin/migration", s.admin(s.migrationStatus))
	h("POST /api/v1/admin/migration", s.admin(s.switchMigration))

	h("GET /healthz", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.Handler())
	h("GET /openapi.json", serveOpenAPI)
	h("GET /docs", serveDocs)
	h("/", s.noRoute(mux))
	return s.observe(mux)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			return zan.Unavailable("readiness", err)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// admin lets a request through only with the configured admin token.
func (s *Server) admin(next handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tok, ok := bearer(r)
		if s.AdminToken == "" || !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.AdminToken)) != 1 {
			return zan.Errorf(zan.EForbidden, "admin token required")
		}
		return next(w, r)
	}
}
