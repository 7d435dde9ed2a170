package client

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"time"
)

// User is the desensitised view of an account.
type User struct {
	ID        ID        `json:"id"`
	Nickname  string    `json:"nickname"`
	Avatar    int       `json:"avatar"` // the generated picture's style: 0 the default, 1-11
	CreatedAt time.Time `json:"created_at"`
}

// SendCode asks for a login code for phone. It returns the code itself
// when the server runs with --dev ("" otherwise: the code went by SMS).
func (c *Client) SendCode(ctx context.Context, phone string) (devCode string, err error) {
	var out struct {
		DevCode string `json:"dev_code"`
	}
	err = c.call(ctx, "POST", "/api/v1/auth/code", nil, map[string]string{"phone": phone}, &out, false)
	return out.DevCode, err
}

// Login signs in with a code; the client sends the new token from then on.
func (c *Client) Login(ctx context.Context, phone, code string) (User, error) {
	var out struct {
		Token string `json:"token"`
		User  User   `json:"user"`
	}
	if err := c.call(ctx, "POST", "/api/v1/auth/login", nil, map[string]string{"phone": phone, "code": code}, &out, false); err != nil {
		return User{}, err
	}
	c.SetToken(out.Token)
	return out.User, nil
}

// LoginDev signs in through the development flow: it asks for a code and
// logs in with the one a `serve --dev` server answers with. Tests, the
// load generator and demos use it; a server without --dev makes it fail.
func (c *Client) LoginDev(ctx context.Context, phone string) (User, error) {
	code, err := c.SendCode(ctx, phone)
	if err != nil {
		return User{}, err
	}
	if code == "" {
		return User{}, errors.New("zan: the server sent the code by SMS (it does not run with --dev)")
	}
	return c.Login(ctx, phone, code)
}

// Logout ends the session on every node; the client forgets the token.
// A session that had already ended (401) counts as logged out: that is
// also what a retry sees when the first try did log out but its answer
// was lost.
func (c *Client) Logout(ctx context.Context) error {
	err := c.call(ctx, "POST", "/api/v1/auth/logout", nil, nil, nil, true)
	if err == nil || IsCode(err, Unauthorized) {
		c.SetToken("")
		return nil
	}
	return err
}

// Me returns the logged-in user.
func (c *Client) Me(ctx context.Context) (User, error) {
	var u User
	err := c.call(ctx, "GET", "/api/v1/me", nil, nil, &u, true)
	return u, err
}

// Change is the answer of a like or an unlike.
type Change struct {
	Liked   bool  `json:"liked"`
	Changed bool  `json:"changed"`
	Count   int64 `json:"count"`
}

func likePath(typ string, id int64) string {
	return "/api/v1/likes/" + url.PathEscape(typ) + "/" + idPath(id)
}

// Like likes a target ("blog", 42). Liking twice changes nothing: it is
// retried safely.
func (c *Client) Like(ctx context.Context, typ string, id int64) (Change, error) {
	var ch Change
	err := c.call(ctx, "PUT", likePath(typ, id), nil, nil, &ch, true)
	return ch, err
}

// Unlike takes a like back.
func (c *Client) Unlike(ctx context.Context, typ string, id int64) (Change, error) {
	var ch Change
	err := c.call(ctx, "DELETE", likePath(typ, id), nil, nil, &ch, true)
	return ch, err
}

// Likes is a target's count and, with a token, whether the caller likes it.
type Likes struct {
	Type  string `json:"type"`
	ID    ID     `json:"id"`
	Count int64  `json:"count"`
	Liked *bool  `json:"liked,omitempty"`
}

// Target names a like target.
type Target struct {
	Type string
	ID   int64
}

// GetLikes returns one target's count (and liked, with a token).
func (c *Client) GetLikes(ctx context.Context, typ string, id int64) (Likes, error) {
	var l Likes
	err := c.call(ctx, "GET", likePath(typ, id), nil, nil, &l, true)
	return l, err
}

// BatchLikes returns the counts of up to 200 targets, in order: a feed.
func (c *Client) BatchLikes(ctx context.Context, ts []Target) ([]Likes, error) {
	var out struct {
		Items []Likes `json:"items"`
	}
	err := c.call(ctx, "GET", "/api/v1/likes", url.Values{"targets": {targetList(ts)}}, nil, &out, true)
	return out.Items, err
}

// Liker is a user who likes a target, and when.
type Liker struct {
	UserID  ID        `json:"user_id"`
	LikedAt time.Time `json:"liked_at"`
}

// LikeQuery pages a time-ordered listing of likes.
type LikeQuery struct {
	ListOptions
	Earliest     bool      // oldest first ("the first N likers"); else latest first
	Since, Until time.Time // liked_at in [Since, Until); zero: unbounded
	Type         string    // UserLikes: only targets of this type
}

func (q LikeQuery) values() url.Values {
	v := q.ListOptions.values()
	if q.Earliest {
		v.Set("order", "earliest")
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Type != "" {
		v.Set("type", q.Type)
	}
	return v
}

// Likers lists who likes a target.
func (c *Client) Likers(ctx context.Context, typ string, id int64, q LikeQuery) (Page[Liker], error) {
	var p pageJSON[Liker]
	err := c.call(ctx, "GET", likePath(typ, id)+"/users", q.values(), nil, &p, true)
	return p.page(), err
}

// UserLike is a target a user likes.
type UserLike struct {
	Type    string    `json:"type"`
	ID      ID        `json:"id"`
	LikedAt time.Time `json:"liked_at"`
}

// UserLikes lists what a user likes.
func (c *Client) UserLikes(ctx context.Context, user int64, q LikeQuery) (Page[UserLike], error) {
	var p pageJSON[UserLike]
	err := c.call(ctx, "GET", "/api/v1/users/"+idPath(user)+"/likes", q.values(), nil, &p, true)
	return p.page(), err
}

// CommonLikers returns up to limit users who like both targets.
func (c *Client) CommonLikers(ctx context.Context, a, b Target, limit int) ([]ID, error) {
	q := url.Values{"with": {b.Type + ":" + idPath(b.ID)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Items []struct {
			UserID ID `json:"user_id"`
		} `json:"items"`
	}
	if err := c.call(ctx, "GET", likePath(a.Type, a.ID)+"/users/common", q, nil, &out, true); err != nil {
		return nil, err
	}
	ids := make([]ID, len(out.Items))
	for i, it := range out.Items {
		ids[i] = it.UserID
	}
	return ids, nil
}

// Author is who wrote a blog, or who liked it first.
type Author struct {
	ID       ID     `json:"id"`
	Nickname string `json:"nickname"`
}

// Blog is a post with its like count.
type Blog struct {
	ID        ID        `json:"id"`
	Title     string    `json:"title"`
	Content   string    `json:"content"`
	ShopID    *ID       `json:"shop_id,omitempty"`
	Author    Author    `json:"author"`
	CreatedAt time.Time `json:"created_at"`
	LikeCount int64     `json:"like_count"`
	Liked     bool      `json:"liked"`
	TopLikers []Author  `json:"top_likers,omitempty"`
	Photos    []Photo   `json:"photos"`
}

// Photo is one photo of a blog; its URLs are relative to the server.
type Photo struct {
	ID       ID     `json:"id"`
	URL      string `json:"url"`
	ThumbURL string `json:"thumb_url"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
}

// CreateBlog posts a blog; shopID 0 links none. Not retried: a retry could
// post it twice.
func (c *Client) CreateBlog(ctx context.Context, title, content string, shopID int64) (Blog, error) {
	body := map[string]any{"title": title, "content": content}
	if shopID != 0 {
		body["shop_id"] = idPath(shopID)
	}
	var b Blog
	err := c.call(ctx, "POST", "/api/v1/blogs", nil, body, &b, false)
	return b, err
}

// Blog returns a blog with its first likers.
func (c *Client) Blog(ctx context.Context, id int64) (Blog, error) {
	var b Blog
	err := c.call(ctx, "GET", "/api/v1/blogs/"+idPath(id), nil, nil, &b, true)
	return b, err
}

// Blogs lists blogs, newest first, or by likes of the last 24 hours (hot).
func (c *Client) Blogs(ctx context.Context, hot bool, o ListOptions) (Page[Blog], error) {
	q := o.values()
	if hot {
		q.Set("sort", "hot")
	}
	var p pageJSON[Blog]
	err := c.call(ctx, "GET", "/api/v1/blogs", q, nil, &p, true)
	return p.page(), err
}

// UserBlogs lists a user's blogs, newest first.
func (c *Client) UserBlogs(ctx context.Context, user int64, o ListOptions) (Page[Blog], error) {
	var p pageJSON[Blog]
	err := c.call(ctx, "GET", "/api/v1/users/"+idPath(user)+"/blogs", o.values(), nil, &p, true)
	return p.page(), err
}

// DeleteBlog deletes one of the caller's blogs. Not retried: a retry after
// a lost answer would report not_found for a blog that was deleted.
func (c *Client) DeleteBlog(ctx context.Context, id int64) error {
	return c.call(ctx, "DELETE", "/api/v1/blogs/"+idPath(id), nil, nil, nil, false)
}

// Shop is a place with vouchers.
type Shop struct {
	ID        ID        `json:"id"`
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	Address   string    `json:"address"`
	X         float64   `json:"x"` // longitude
	Y         float64   `json:"y"` // latitude
	Score     float64   `json:"score"`
	AvgPrice  int64     `json:"avg_price"`
	OpenHours string    `json:"open_hours"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	DistanceM *float64  `json:"distance_m,omitempty"` // nearby results only
}

// ShopInput is what an admin writes; nil fields keep the stored value on
// an update.
type ShopInput struct {
	Name      *string  `json:"name,omitempty"`
	Type      *string  `json:"type,omitempty"`
	Address   *string  `json:"address,omitempty"`
	X         *float64 `json:"x,omitempty"`
	Y         *float64 `json:"y,omitempty"`
	Score     *float64 `json:"score,omitempty"`
	AvgPrice  *int64   `json:"avg_price,omitempty"`
	OpenHours *string  `json:"open_hours,omitempty"`
}

// Shop returns a shop.
func (c *Client) Shop(ctx context.Context, id int64) (Shop, error) {
	var s Shop
	err := c.call(ctx, "GET", "/api/v1/shops/"+idPath(id), nil, nil, &s, true)
	return s, err
}

// SearchShops lists shops by type and words, newest first.
func (c *Client) SearchShops(ctx context.Context, typ, q string, o ListOptions) (Page[Shop], error) {
	v := o.values()
	if typ != "" {
		v.Set("type", typ)
	}
	if q != "" {
		v.Set("q", q)
	}
	var p pageJSON[Shop]
	err := c.call(ctx, "GET", "/api/v1/shops", v, nil, &p, true)
	return p.page(), err
}

// NearbyShops lists the shops within radiusM metres of (x, y), nearest
// first.
func (c *Client) NearbyShops(ctx context.Context, x, y, radiusM float64, typ string, o ListOptions) (Page[Shop], error) {
	v := o.values()
	v.Set("x", strconv.FormatFloat(x, 'f', -1, 64))
	v.Set("y", strconv.FormatFloat(y, 'f', -1, 64))
	if radiusM > 0 {
		v.Set("radius_m", strconv.FormatFloat(radiusM, 'f', -1, 64))
	}
	if typ != "" {
		v.Set("type", typ)
	}
	var p pageJSON[Shop]
	err := c.call(ctx, "GET", "/api/v1/shops/nearby", v, nil, &p, true)
	return p.page(), err
}

// CreateShop creates a shop (admin token).
func (c *Client) CreateShop(ctx context.Context, in ShopInput) (Shop, error) {
	var s Shop
	err := c.call(ctx, "POST", "/api/v1/shops", nil, in, &s, false)
	return s, err
}

// UpdateShop changes the fields given (admin token). Idempotent.
func (c *Client) UpdateShop(ctx context.Context, id int64, in ShopInput) (Shop, error) {
	var s Shop
	err := c.call(ctx, "PUT", "/api/v1/shops/"+idPath(id), nil, in, &s, true)
	return s, err
}

// Voucher is a limited stock of coupons sold in a window.
type Voucher struct {
	ID        ID        `json:"id"`
	ShopID    ID        `json:"shop_id"`
	Title     string    `json:"title"`
	Stock     int64     `json:"stock"`
	Remaining int64     `json:"remaining"`
	BeginAt   time.Time `json:"begin_at"`
	EndAt     time.Time `json:"end_at"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateVoucher puts a voucher on sale (admin token).
func (c *Client) CreateVoucher(ctx context.Context, shopID int64, title string, stock int64, begin, end time.Time) (Voucher, error) {
	var v Voucher
	err := c.call(ctx, "POST", "/api/v1/vouchers", nil, map[string]any{
		"shop_id": idPath(shopID), "title": title, "stock": stock,
		"begin_at": begin.UTC().Format(time.RFC3339Nano), "end_at": end.UTC().Format(time.RFC3339Nano),
	}, &v, false)
	return v, err
}

// Voucher returns a voucher with its remaining stock.
func (c *Client) Voucher(ctx context.Context, id int64) (Voucher, error) {
	var v Voucher
	err := c.call(ctx, "GET", "/api/v1/vouchers/"+idPath(id), nil, nil, &v, true)
	return v, err
}

// ShopVouchers lists a shop's vouchers.
func (c *Client) ShopVouchers(ctx context.Context, shopID int64) ([]Voucher, error) {
	var out struct {
		Items []Voucher `json:"items"`
	}
	err := c.call(ctx, "GET", "/api/v1/shops/"+idPath(shopID)+"/vouchers", nil, nil, &out, true)
	return out.Items, err
}

// Order tries to win one unit of a voucher. Errors: Conflict (the user has
// one), SoldOut, BadRequest (outside the window), RateLimited. Not retried:
// the caller decides whether to try again.
func (c *Client) Order(ctx context.Context, voucherID int64) (orderID int64, err error) {
	var out struct {
		OrderID ID `json:"order_id"`
	}
	err = c.call(ctx, "POST", "/api/v1/vouchers/"+idPath(voucherID)+"/orders", nil, nil, &out, false)
	return int64(out.OrderID), err
}

// VoucherOrder is an order: pending until stored, then created.
type VoucherOrder struct {
	ID        ID        `json:"id"`
	VoucherID ID        `json:"voucher_id"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	// Voucher is set by MyOrders (nil for a voucher that is gone).
	Voucher *Voucher `json:"voucher,omitempty"`
}

// GetOrder returns one of the caller's orders.
func (c *Client) GetOrder(ctx context.Context, id int64) (VoucherOrder, error) {
	var o VoucherOrder
	err := c.call(ctx, "GET", "/api/v1/orders/"+idPath(id), nil, nil, &o, true)
	return o, err
}

// MyOrders pages the caller's stored orders, newest first, each with its
// voucher; cursor is "" for the first page.
func (c *Client) MyOrders(ctx context.Context, limit int, cursor string) (Page[VoucherOrder], error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var p pageJSON[VoucherOrder]
	err := c.call(ctx, "GET", "/api/v1/me/orders", q, nil, &p, true)
	return p.page(), err
}

// Health returns nil when the server process is up (GET /healthz). Probes
// are not retried: they report the state of this moment.
func (c *Client) Health(ctx context.Context) error {
	return c.call(ctx, "GET", "/healthz", nil, nil, nil, false)
}

// Ready returns nil when every dependency of the server answers (GET
// /readyz), else an error with the code unavailable.
func (c *Client) Ready(ctx context.Context) error {
	return c.call(ctx, "GET", "/readyz", nil, nil, nil, false)
}

// Metrics returns the server's metrics in the Prometheus text format.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	var b []byte
	err := c.call(ctx, "GET", "/metrics", nil, nil, &b, true)
	return string(b), err
}

// OpenAPI returns the OpenAPI 3 description of the API, as JSON.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	var b []byte
	err := c.call(ctx, "GET", "/openapi.json", nil, nil, &b, true)
	return b, err
}
