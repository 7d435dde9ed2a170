package httpapi

import (
	"net/http"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/identity"
)

func (s *Server) sendCode(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Phone string `json:"phone"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := s.budget(r, "code", s.Clients.Code, s.Clients.Limiter); err != nil {
		return err
	}
	code, err := s.Accounts.SendCode(r.Context(), req.Phone)
	if err != nil {
		return err
	}
	resp := map[string]any{"sent": true}
	if code != "" {
		resp["dev_code"] = code
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Phone string `json:"phone"`
		Code  string `json:"code"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := s.budget(r, "login", s.Clients.Login, s.Clients.Limiter); err != nil {
		return err
	}
	token, u, err := s.Accounts.Login(r.Context(), req.Phone, req.Code)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"token": token, "user": publicUser(u, true)})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	tok, _ := bearer(r)
	logout := s.Accounts.Logout
	if s.Identity.HostTokens() && identity.IsJWT(tok) {
		logout = s.Identity.RevokeJWT
	}
	if err := logout(r.Context(), tok); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	u, err := s.Accounts.User(r.Context(), userID(r))
	if zan.IsNotFound(err) {
		return zan.Errorf(zan.EUnauthorized, "the session's user no longer exists")
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, publicUser(u, true))
}

func (s *Server) updateMe(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Nickname *string `json:"nickname"`
		Avatar   *int    `json:"avatar"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Nickname == nil && req.Avatar == nil {
		return zan.Errorf(zan.EBadRequest, "nothing to change: send a nickname or an avatar")
	}
	// The avatar is checked before the nickname is stored: a request that
	// is refused changes nothing.
	if req.Avatar != nil && (*req.Avatar < 0 || *req.Avatar > zan.MaxAvatar) {
		return zan.Errorf(zan.EBadRequest, "avatar must be 0 to %d", zan.MaxAvatar)
	}
	var u zan.User
	var err error
	if req.Nickname != nil {
		u, err = s.Accounts.SetNickname(r.Context(), userID(r), *req.Nickname)
	}
	if err == nil && req.Avatar != nil {
		u, err = s.Accounts.SetAvatar(r.Context(), userID(r), *req.Avatar)
	}
	if zan.IsNotFound(err) {
		return zan.Errorf(zan.EUnauthorized, "the session's user no longer exists")
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, publicUser(u, true))
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	uid, err := zan.ParseID(r.PathValue("uid"))
	if err != nil {
		return err
	}
	u, err := s.Accounts.User(r.Context(), uid)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, publicUser(u, false))
}
