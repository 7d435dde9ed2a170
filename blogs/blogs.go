// Package blogs is the blog (post) service: posts with their like counts,
// the reader's liked flag, the first likers, and the hot ranking.
package blogs

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/likes"
	"github.com/zanlabs/zan/metrics"
)

// Target type of blogs among like targets.
const TargetType = "blog"

// Config tunes the service.
type Config struct {
	Limit     zan.Limit     // per-user bucket for creating blogs
	HotWindow time.Duration // hot = likes received in this window (24 h)
	TopLikers int           // first likers shown on a blog (5)
	// Deleted, when set, is told of every blog deleted (likes of it must
	// answer not_found on every node).
	Deleted func(ctx context.Context, id int64)
	// Photos keeps the photos of posts; nil: posts carry none.
	Photos zan.PhotoStore
}

// Service is the blog service.
type Service struct {
	cfg     Config
	store   zan.BlogStore
	users   zan.UserStore
	likes   *likes.Service
	limiter zan.RateLimiter
	ids     *zan.IDGen
	now     func() time.Time
}

// New returns a blog service.
func New(cfg Config, store zan.BlogStore, users zan.UserStore, likes *likes.Service, limiter zan.RateLimiter, ids *zan.IDGen) *Service {
	if cfg.Limit.Rate == 0 {
		cfg.Limit = zan.Limit{Rate: 1, Burst: 10}
	}
	if cfg.HotWindow <= 0 {
		cfg.HotWindow = 24 * time.Hour
	}
	if cfg.TopLikers <= 0 {
		cfg.TopLikers = 5
	}
	return &Service{cfg: cfg, store: store, users: users, likes: likes, limiter: limiter, ids: ids, now: time.Now}
}

// View is a blog as a reader sees it.
type View struct {
	zan.Blog
	Author    zan.User
	LikeCount int64
	Liked     bool
	TopLikers []zan.User // only on a single blog
	Photos    []zan.Photo
}

// MaxClientKey is the longest client key a submit may carry.
const MaxClientKey = 64

// ValidClientKey reports whether key may be a client key: 1-64 printable
// ASCII characters without spaces (a UUID, a random token).
func ValidClientKey(key string) bool {
	if len(key) < 1 || len(key) > MaxClientKey {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return false
		}
	}
	return true
}

// Create posts a blog by author, showing photos (author's own uploads, in
// order). With a client key ("": none) the same author and key return the
// blog made first, with created false, however often they are sent: a
// double click or a retry makes one post.
func (s *Service) Create(ctx context.Context, author int64, title, content string, shopID int64, key string, photos []int64) (v View, created bool, err error) {
	if key != "" && !ValidClientKey(key) {
		return View{}, false, zan.Errorf(zan.EBadRequest, "client key must be 1-%d printable ASCII characters", MaxClientKey)
	}
	title, err = checkText(title, content)
	if err != nil {
		return View{}, false, err
	}
	if shopID < 0 {
		return View{}, false, zan.Errorf(zan.EBadRequest, "invalid shop_id")
	}
	ps, err := s.checkPhotos(ctx, author, photos)
	if err != nil {
		return View{}, false, err
	}
	if key != "" {
		// A repeat costs no rate budget: it makes nothing.
		if b, err := s.store.BlogByKey(ctx, author, key); err == nil {
			v, err := s.withAuthor(ctx, b)
			if err == nil {
				v.Photos, err = s.photosOf(ctx, b.ID)
			}
			return v, false, err
		} else if !zan.IsNotFound(err) {
			return View{}, false, zan.Unavailable("store", err)
		}
	}
	if s.limiter != nil {
		ok, retry, err := s.limiter.Allow(ctx, "blog:"+itoa(author), s.cfg.Limit)
		if err != nil {
			return View{}, false, zan.Unavailable("rate limiter", err)
		}
		if !ok {
			metrics.RateLimited.WithLabelValues("blog").Inc()
			return View{}, false, zan.RateLimited(retry, "too many posts; slow down")
		}
	}
	b := zan.Blog{ID: s.ids.Next(), AuthorID: author, Title: title, Content: content, ShopID: shopID,
		CreatedAt: s.now().UTC().Truncate(time.Millisecond), ClientKey: key}
	stored, err := s.store.CreateBlog(ctx, b)
	if err != nil {
		return View{}, false, zan.Unavailable("store", err)
	}
	created = stored.ID == b.ID
	if created && len(ps) > 0 {
		// After the blog: a failure here leaves a post without its photos,
		// which its author can edit, rather than photo rows of no post.
		if err := s.cfg.Photos.SetBlogPhotos(ctx, b.ID, photos); err != nil {
			return View{}, false, zan.Unavailable("store", err)
		}
	}
	v, err = s.withAuthor(ctx, stored)
	if err == nil {
		v.Photos, err = s.photosOf(ctx, stored.ID)
	}
	return v, created, err
}

// checkPhotos returns the photos of ids, which must be at most
// MaxBlogPhotos distinct uploads of author.
func (s *Service) checkPhotos(ctx context.Context, author int64, ids []int64) ([]zan.Photo, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if s.cfg.Photos == nil {
		return nil, zan.Errorf(zan.EBadRequest, "posts take no photos here")
	}
	if len(ids) > zan.MaxBlogPhotos {
		return nil, zan.Errorf(zan.EBadRequest, "a post shows at most %d photos", zan.MaxBlogPhotos)
	}
	m, err := s.cfg.Photos.Photos(ctx, ids)
	if err != nil {
		return nil, zan.Unavailable("store", err)
	}
	ps := make([]zan.Photo, len(ids))
	seen := make(map[int64]bool, len(ids))
	for i, id := range ids {
		p, ok := m[id]
		// Someone else's photo is answered as a missing one: ids are not
		// secret, but a post must not borrow them.
		if !ok || p.OwnerID != author {
			return nil, zan.Errorf(zan.EBadRequest, "photo %d is not one of your uploads", id)
		}
		if seen[id] {
			return nil, zan.Errorf(zan.EBadRequest, "photo %d is named twice", id)
		}
		seen[id] = true
		ps[i] = p
	}
	return ps, nil
}

func (s *Service) photosOf(ctx context.Context, blog int64) ([]zan.Photo, error) {
	if s.cfg.Photos == nil {
		return nil, nil
	}
	m, err := s.cfg.Photos.BlogPhotos(ctx, []int64{blog})
	if err != nil {
		return nil, zan.Unavailable("store", err)
	}
	return m[blog], nil
}

// checkText validates a title and content, returning the trimmed title.
func checkText(title, content string) (string, error) {
	title = strings.TrimSpace(title)
	if n := utf8.RuneCountInString(title); n < 1 || n > 100 {
		return "", zan.Errorf(zan.EBadRequest, "title must be 1-100 characters")
	}
	if n := utf8.RuneCountInString(content); n < 1 || n > 20000 || strings.TrimSpace(content) == "" {
		return "", zan.Errorf(zan.EBadRequest, "content must be 1-20000 characters")
	}
	return title, nil
}

func (s *Service) withAuthor(ctx context.Context, b zan.Blog) (View, error) {
	u, err := s.users.User(ctx, b.AuthorID)
	if err != nil {
		return View{}, zan.Unavailable("store", err)
	}
	return View{Blog: b, Author: u}, nil
}

// Update replaces the title, content and photos of a blog; only its
// author may. An empty title or content, or nil photos, keeps the one
// there; an empty non-nil photos removes them all.
func (s *Service) Update(ctx context.Context, id, user int64, title, content string, photos []int64) (View, error) {
	b, err := s.store.Blog(ctx, id)
	if err != nil {
		return View{}, zan.Unavailable("store", err)
	}
	if b.AuthorID != user {
		return View{}, zan.Errorf(zan.EForbidden, "only the author may edit a blog")
	}
	if title == "" {
		title = b.Title
	}
	if content == "" {
		content = b.Content
	}
	if b.Title, err = checkText(title, content); err != nil {
		return View{}, err
	}
	b.Content = content
	if photos != nil {
		if _, err := s.checkPhotos(ctx, user, photos); err != nil {
			return View{}, err
		}
	}
	if err := s.store.UpdateBlog(ctx, b); err != nil {
		return View{}, zan.Unavailable("store", err)
	}
	if photos != nil && s.cfg.Photos != nil {
		if err := s.cfg.Photos.SetBlogPhotos(ctx, id, photos); err != nil {
			return View{}, zan.Unavailable("store", err)
		}
	}
	return s.Get(ctx, id, user)
}

// Get returns one blog with its first likers.
func (s *Service) Get(ctx context.Context, id, viewer int64) (View, error) {
	b, err := s.store.Blog(ctx, id)
	if err != nil {
		return View{}, zan.Unavailable("store", err)
	}
	views, err := s.views(ctx, []zan.Blog{b}, viewer)
	if err != nil {
		return View{}, err
	}
	v := views[0]
	page, err := s.likes.Likers(ctx, zan.Target{Type: TargetType, ID: id}, zan.LikeQuery{Order: zan.Earliest, Limit: s.cfg.TopLikers})
	if err != nil {
		return View{}, err
	}
	ids := make([]int64, len(page.Items))
	for i, l := range page.Items {
		ids[i] = l.UserID
	}
	us, err := s.users.Users(ctx, ids)
	if err != nil {
		return View{}, zan.Unavailable("store", err)
	}
	v.TopLikers = make([]zan.User, 0, len(ids))
	for _, id := range ids {
		if u, ok := us[id]; ok {
			v.TopLikers = append(v.TopLikers, u)
		} else {
			v.TopLikers = append(v.TopLikers, zan.User{ID: id})
		}
	}
	return v, nil
}

// Titles returns the titles of the blogs found among ids (a page of a
// user's likes names them in one query).
func (s *Service) Titles(ctx context.Context, ids []int64) (map[int64]string, error) {
	m, err := s.store.BlogTitles(ctx, ids)
	if err != nil {
		return nil, zan.Unavailable("store", err)
	}
	return m, nil
}

// Delete removes a blog; only its author may.
func (s *Service) Delete(ctx context.Context, id, user int64) error {
	b, err := s.store.Blog(ctx, id)
	if err != nil {
		return zan.Unavailable("store", err)
	}
	if b.AuthorID != user {
		return zan.Errorf(zan.EForbidden, "only the author may delete a blog")
	}
	if err := s.store.DeleteBlog(ctx, id); err != nil {
		return zan.Unavailable("store", err)
	}
	if s.cfg.Deleted != nil {
		s.cfg.Deleted(ctx, id)
	}
	return nil
}

// Page is a page of blogs.
type Page struct {
	Items []View
	Next  *zan.Cursor
}

// List returns a page of blogs: newest or hottest first, optionally by one
// author.
func (s *Service) List(ctx context.Context, f zan.BlogFilter, viewer int64) (Page, error) {
	if f.Limit == 0 {
		f.Limit = 20
	}
	if f.Limit < 1 || f.Limit > likes.MaxLimit {
		return Page{}, zan.Errorf(zan.EBadRequest, "limit must be 1-%d", likes.MaxLimit)
	}
	if f.Sort == zan.BlogsHot {
		f.HotSince = s.now().Add(-s.cfg.HotWindow)
	}
	p, err := s.store.Blogs(ctx, f)
	if err != nil {
		return Page{}, zan.Unavailable("store", err)
	}
	views, err := s.views(ctx, p.Blogs, viewer)
	if err != nil {
		return Page{}, err
	}
	return Page{Items: views, Next: p.Next}, nil
}

// views adds authors, counts and liked flags; counts come from the like
// service so they agree with the like calls.
func (s *Service) views(ctx context.Context, bs []zan.Blog, viewer int64) ([]View, error) {
	if len(bs) == 0 {
		return []View{}, nil
	}
	ts := make([]zan.Target, len(bs))
	authors := make([]int64, 0, len(bs))
	for i, b := range bs {
		ts[i] = zan.Target{Type: TargetType, ID: b.ID}
		authors = append(authors, b.AuthorID)
	}
	items, err := s.likes.Get(ctx, ts, viewer)
	if err != nil {
		return nil, err
	}
	us, err := s.users.Users(ctx, authors)
	if err != nil {
		return nil, zan.Unavailable("store", err)
	}
	var photos map[int64][]zan.Photo
	if s.cfg.Photos != nil {
		ids := make([]int64, len(bs))
		for i, b := range bs {
			ids[i] = b.ID
		}
		if photos, err = s.cfg.Photos.BlogPhotos(ctx, ids); err != nil {
			return nil, zan.Unavailable("store", err)
		}
	}
	vs := make([]View, len(bs))
	for i, b := range bs {
		a, ok := us[b.AuthorID]
		if !ok {
			a = zan.User{ID: b.AuthorID}
		}
		vs[i] = View{Blog: b, Author: a, LikeCount: items[i].Count, Liked: items[i].Liked, Photos: photos[b.ID]}
	}
	return vs, nil
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
