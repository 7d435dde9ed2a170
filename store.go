package zan

import (
	"context"
	"time"
)

// User is an account. Phone never leaves the server; it is "" for a user
// who signed up through another issuer (see Identity).
type User struct {
	ID        int64
	Phone     string
	Nickname  string
	CreatedAt time.Time
	// Avatar is the user's choice among the generated pictures drawn from
	// their id: 0 is the default, 1..MaxAvatar the other styles.
	Avatar int
}

// MaxAvatar is the number of generated avatar styles one can choose besides
// the default. Pictures are drawn by clients from (id, Avatar); the server
// keeps only the small number, so no uploaded image is ever served.
const MaxAvatar = 11

// Session is a login. Only the SHA-256 of the token is kept.
type Session struct {
	TokenHash [32]byte
	UserID    int64
	ExpiresAt time.Time
}

// Blog is a post.
type Blog struct {
	ID        int64
	AuthorID  int64
	Title     string
	Content   string
	ShopID    int64 // 0: none
	CreatedAt time.Time
	// ClientKey is the author's key for the submit that made the blog
	// ("": none): one author's key makes one blog however often it is sent.
	ClientKey string
}

// BlogSort orders blog listings.
type BlogSort int

const (
	BlogsNew BlogSort = iota // newest first: ID descending
	BlogsHot                 // likes received since HotSince, descending, then ID descending
)

// BlogFilter selects a page of blogs.
type BlogFilter struct {
	AuthorID int64 // 0: any author
	Sort     BlogSort
	HotSince time.Time // with BlogsHot: count likes with liked_at >= HotSince
	Limit    int
	After    *Cursor
}

// BlogPage is one page of blogs; Scores[i] is Blogs[i]'s hot score (BlogsHot
// only). Next is nil on the last page.
type BlogPage struct {
	Blogs  []Blog
	Scores []int64
	Next   *Cursor
}

// Order is the direction of a time-ordered listing.
type Order int

const (
	Latest   Order = iota // liked_at descending
	Earliest              // liked_at ascending
)

// LikeQuery selects a page of likes. Since is inclusive, Until exclusive;
// zero times do not bound. Type filters a user's likes ("" = all types).
type LikeQuery struct {
	Order Order
	Limit int
	After *Cursor
	Since time.Time
	Until time.Time
	Type  string
}

// Liker is one user who likes a target.
type Liker struct {
	UserID  int64
	LikedAt time.Time
}

// LikerPage is a page of likers; Next is nil on the last page.
type LikerPage struct {
	Items []Liker
	Next  *Cursor
}

// UserLike is one target a user likes.
type UserLike struct {
	Target  Target
	LikedAt time.Time
}

// UserLikePage is a page of a user's likes.
type UserLikePage struct {
	Items []UserLike
	Next  *Cursor
}

// ApplyResult says what ApplyLikes did.
type ApplyResult struct {
	Changed int // (user, target) rows whose liked state flipped
	Stale   int // events older than the stored state of their (user, target), or superseded in the batch
}

// UserStore keeps accounts.
type UserStore interface {
	// EnsureUser returns the user with u.Phone, creating u when there is none.
	EnsureUser(ctx context.Context, u User) (User, error)
	User(ctx context.Context, id int64) (User, error)
	// Users returns the users found among ids.
	Users(ctx context.Context, ids []int64) (map[int64]User, error)
	// SetNickname renames user; ENotFound when there is no such user.
	SetNickname(ctx context.Context, user int64, nickname string) error
	// SetAvatar sets user's avatar style; ENotFound when there is no such
	// user.
	SetAvatar(ctx context.Context, user int64, avatar int) error
}

// Identity is a way into an account through an outside issuer: an OpenID
// provider, or a host platform whose own tokens zan accepts. One
// (Issuer, Subject) is one user; a user has at most one identity per issuer.
type Identity struct {
	Issuer    string
	Subject   string
	UserID    int64
	CreatedAt time.Time
}

// IdentityStore keeps the identities of users.
type IdentityStore interface {
	// EnsureIdentityUser returns the user of (id.Issuer, id.Subject),
	// creating u (with no phone) and the identity when there is none.
	EnsureIdentityUser(ctx context.Context, id Identity, u User) (User, error)
	// LinkIdentity adds id to the account id.UserID; linking it again is no
	// error. EConflict when the identity is another user's or the user has
	// another identity at the issuer; ENotFound when there is no such user.
	LinkIdentity(ctx context.Context, id Identity) error
	// Identities lists user's identities, oldest first.
	Identities(ctx context.Context, user int64) ([]Identity, error)
	// UnlinkIdentity removes user's identity at issuer: ENotFound when there
	// is none, EConflict when it is the user's last way in (no phone and no
	// other identity).
	UnlinkIdentity(ctx context.Context, user int64, issuer string) error
}

// SessionStore keeps logins, shared by every node.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session; ENotFound when it is missing or expired.
	Session(ctx context.Context, hash [32]byte) (Session, error)
	// TouchSession moves the expiry of a live session.
	TouchSession(ctx context.Context, hash [32]byte, expiresAt time.Time) error
	DeleteSession(ctx context.Context, hash [32]byte) error
	// DeleteExpiredSessions removes sessions that expired before now.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
}

// BlogStore keeps blogs.
type BlogStore interface {
	// CreateBlog stores b and returns it; when b.ClientKey is set and the
	// author has a blog with that key already, it stores nothing and
	// returns that earlier blog.
	CreateBlog(ctx context.Context, b Blog) (Blog, error)
	// Blog returns ENotFound for a missing (or deleted) blog.
	Blog(ctx context.Context, id int64) (Blog, error)
	// BlogByKey returns author's blog made with client key; ENotFound when
	// there is none.
	BlogByKey(ctx context.Context, author int64, key string) (Blog, error)
	// UpdateBlog replaces the title and content of blog b.ID; ENotFound
	// when it is missing.
	UpdateBlog(ctx context.Context, b Blog) error
	DeleteBlog(ctx context.Context, id int64) error
	Blogs(ctx context.Context, f BlogFilter) (BlogPage, error)
	// BlogTitles returns the titles of the blogs found among ids, in one
	// query.
	BlogTitles(ctx context.Context, ids []int64) (map[int64]string, error)
}

// LikeStore is the source of truth of likes.
type LikeStore interface {
	// ApplyLikes applies events idempotently: per (user, target) the event
	// with the greatest At wins, and only if it is newer than the stored
	// state; counts change in the same transaction by exactly the rows that
	// flipped. Applying the same events again changes nothing.
	ApplyLikes(ctx context.Context, events []Event) (ApplyResult, error)
	// LikeCounts returns the stored counts, in order.
	LikeCounts(ctx context.Context, ts []Target) ([]int64, error)
	// Liked reports, in order, whether user likes each target.
	Liked(ctx context.Context, ts []Target, user int64) ([]bool, error)
	// Likers lists the users who like t.
	Likers(ctx context.Context, t Target, q LikeQuery) (LikerPage, error)
	// LastLikeChange is the greatest At of t's stored like rows (liked or
	// not), 0 when it has none: a target loaded into the hot state takes
	// its next At after it.
	LastLikeChange(ctx context.Context, t Target) (int64, error)
	// ScanLikers calls fn with every user who likes t (to load the hot state).
	ScanLikers(ctx context.Context, t Target, fn func(users []int64) error) error
	// UserLikes lists what user likes.
	UserLikes(ctx context.Context, user int64, q LikeQuery) (UserLikePage, error)
	// CommonLikers returns up to limit users who like both a and b, by user id.
	CommonLikers(ctx context.Context, a, b Target, limit int) ([]int64, error)
	// RecountLikes sets t's stored count to its number of liking rows and
	// returns the count it had and the one it has now.
	RecountLikes(ctx context.Context, t Target) (before, after int64, err error)
}

// LikeSummary is what a load of a target into the hot state reads first.
type LikeSummary struct {
	Count int64 // the stored count
	Rows  bool  // whether the target has any row (liked, or a tombstone)
}

// LikeSummaryStore is a LikeStore that reads the summaries of many targets
// in one query. A load of a target nobody ever liked or unliked, the most
// common load under a write storm over many targets, is then a share of
// one query instead of three queries of its own (LikeCounts,
// LastLikeChange, and a ScanLikers that finds nothing).
type LikeSummaryStore interface {
	LikeStore
	// LikeSummaries returns the summaries of ts, in order.
	LikeSummaries(ctx context.Context, ts []Target) ([]LikeSummary, error)
}

// Store is the source of truth: a SQL database.
type Store interface {
	UserStore
	IdentityStore
	SessionStore
	BlogStore
	PhotoStore
	LikeStore
	ShopStore
	VoucherStore
	NotificationStore
	WebhookStore
	Ping(ctx context.Context) error
	Close() error
}
