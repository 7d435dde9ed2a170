package httpapi

import (
	"net/http"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/blogs"
)

func blogView(v blogs.View) blogJSON {
	j := blogJSON{
		ID: ID(v.ID), Title: v.Title, Content: v.Content,
		Author:    publicUser(v.Author, false),
		CreatedAt: Time(v.CreatedAt), LikeCount: v.LikeCount, Liked: v.Liked,
	}
	j.Photos = make([]photoJSON, len(v.Photos))
	for i, p := range v.Photos {
		j.Photos[i] = photoView(p)
	}
	if v.ShopID != 0 {
		id := ID(v.ShopID)
		j.ShopID = &id
	}
	if v.TopLikers != nil {
		j.TopLikers = make([]userJSON, len(v.TopLikers))
		for i, u := range v.TopLikers {
			j.TopLikers[i] = publicUser(u, false)
		}
	}
	return j
}

// IdempotencyKey is the header that names one submit of a new blog (the
// body's client_key says the same).
const IdempotencyKey = "Idempotency-Key"

func (s *Server) createBlog(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Title     string `json:"title"`
		Content   string `json:"content"`
		ShopID    *ID    `json:"shop_id"`
		ClientKey string `json:"client_key"`
		Photos    []ID   `json:"photos"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	key := r.Header.Get(IdempotencyKey)
	if key != "" && req.ClientKey != "" && key != req.ClientKey {
		return zan.Errorf(zan.EBadRequest, "the %s header and client_key differ", IdempotencyKey)
	}
	if key == "" {
		key = req.ClientKey
	}
	var shop int64
	if req.ShopID != nil {
		shop = int64(*req.ShopID)
	}
	v, created, err := s.Blogs.Create(r.Context(), userID(r), req.Title, req.Content, shop, key, ids(req.Photos))
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !created {
		// A repeat of a submit: the blog it made, which is not new.
		status = http.StatusOK
	}
	return writeJSON(w, status, blogView(v))
}

func (s *Server) updateBlog(w http.ResponseWriter, r *http.Request) error {
	id, err := zan.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	var req struct {
		Title   string `json:"title"`
		Content string `json:"content"`
		// nil: keep the photos; [] removes them.
		Photos *[]ID `json:"photos"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Title == "" && req.Content == "" && req.Photos == nil {
		return zan.Errorf(zan.EBadRequest, "nothing to change: send a title, a content, photos or some of them")
	}
	var photos []int64
	if req.Photos != nil {
		photos = append(make([]int64, 0, len(*req.Photos)), ids(*req.Photos)...)
	}
	v, err := s.Blogs.Update(r.Context(), id, userID(r), req.Title, req.Content, photos)
	if err != nil {
		return err
	}
	return s.writeBlogDetail(w, v)
}

func (s *Server) getBlog(w http.ResponseWriter, r *http.Request) error {
	id, err := zan.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := s.Blogs.Get(r.Context(), id, userID(r))
	if err != nil {
		return err
	}
	return s.writeBlogDetail(w, v)
}

func (s *Server) writeBlogDetail(w http.ResponseWriter, v blogs.View) error {
	j := blogView(v)
	if j.TopLikers == nil {
		j.TopLikers = []userJSON{}
	}
	// top_likers is always present on a single blog, even when empty.
	type withTop struct {
		blogJSON
		TopLikers []userJSON `json:"top_likers"`
	}
	return writeJSON(w, http.StatusOK, withTop{blogJSON: j, TopLikers: j.TopLikers})
}

func (s *Server) deleteBlog(w http.ResponseWriter, r *http.Request) error {
	id, err := zan.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.Blogs.Delete(r.Context(), id, userID(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listBlogs(w http.ResponseWriter, r *http.Request) error {
	f := zan.BlogFilter{}
	switch r.URL.Query().Get("sort") {
	case "", "new":
	case "hot":
		f.Sort = zan.BlogsHot
	default:
		return zan.Errorf(zan.EBadRequest, "sort must be new or hot")
	}
	return s.blogPage(w, r, f)
}

func (s *Server) userBlogs(w http.ResponseWriter, r *http.Request) error {
	uid, err := zan.ParseID(r.PathValue("uid"))
	if err != nil {
		return err
	}
	return s.blogPage(w, r, zan.BlogFilter{AuthorID: uid})
}

func (s *Server) blogPage(w http.ResponseWriter, r *http.Request, f zan.BlogFilter) error {
	var err error
	if f.Limit, f.After, err = queryPage(r); err != nil {
		return err
	}
	p, err := s.Blogs.List(r.Context(), f, userID(r))
	if err != nil {
		return err
	}
	out := page[blogJSON]{Items: make([]blogJSON, len(p.Items)), NextCursor: cursorString(p.Next)}
	for i, v := range p.Items {
		out.Items[i] = blogView(v)
	}
	return writeJSON(w, http.StatusOK, out)
}
