package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/shops"
	"github.com/zanlabs/zan/vouchers"
)

type (
	shopJSON struct {
		ID        ID       `json:"id"`
		Name      string   `json:"name"`
		Type      string   `json:"type"`
		Address   string   `json:"address"`
		X         float64  `json:"x"`
		Y         float64  `json:"y"`
		Score     float64  `json:"score"`
		AvgPrice  int64    `json:"avg_price"`
		OpenHours string   `json:"open_hours"`
		CreatedAt Time     `json:"created_at"`
		UpdatedAt Time     `json:"updated_at"`
		DistanceM *float64 `json:"distance_m,omitempty"`
	}
	shopInput struct {
		Name      *string  `json:"name"`
		Type      *string  `json:"type"`
		Address   *string  `json:"address"`
		X         *float64 `json:"x"`
		Y         *float64 `json:"y"`
		Score     *float64 `json:"score"`
		AvgPrice  *int64   `json:"avg_price"`
		OpenHours *string  `json:"open_hours"`
	}
	voucherJSON struct {
		ID        ID     `json:"id"`
		ShopID    ID     `json:"shop_id"`
		Title     string `json:"title"`
		Stock     int64  `json:"stock"`
		Remaining int64  `json:"remaining"`
		BeginAt   Time   `json:"begin_at"`
		EndAt     Time   `json:"end_at"`
		CreatedAt Time   `json:"created_at"`
	}
	orderJSON struct {
		ID        ID     `json:"id"`
		VoucherID ID     `json:"voucher_id"`
		Status    string `json:"status"`
		CreatedAt Time   `json:"created_at"`
		// Voucher is set in a listing of one's orders; null there for a
		// voucher that is gone.
		Voucher *voucherJSON `json:"voucher,omitempty"`
	}
)

func shopView(sh zan.Shop) shopJSON {
	return shopJSON{
		ID: ID(sh.ID), Name: sh.Name, Type: sh.Type, Address: sh.Address, X: sh.X, Y: sh.Y,
		Score: sh.Score, AvgPrice: sh.AvgPrice, OpenHours: sh.OpenHours,
		CreatedAt: Time(sh.CreatedAt), UpdatedAt: Time(sh.UpdatedAt),
	}
}

func (in shopInput) input() shops.Input {
	return shops.Input{Name: in.Name, Type: in.Type, Address: in.Address, X: in.X, Y: in.Y,
		Score: in.Score, AvgPrice: in.AvgPrice, OpenHours: in.OpenHours}
}

func (s *Server) getShop(w http.ResponseWriter, r *http.Request) error {
	id, err := zan.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	sh, err := s.Shops.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, shopView(sh))
}

func (s *Server) createShop(w http.ResponseWriter, r *http.Request) error {
	var in shopInput
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	sh, err := s.Shops.Create(r.Context(), in.input())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, shopView(sh))
}

func (s *Server) updateShop(w http.ResponseWriter, r *http.Request) error {
	id, err := zan.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	var in shopInput
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	sh, err := s.Shops.Update(r.Context(), id, in.input())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, shopView(sh))
}

func (s *Server) listShops(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := zan.ShopFilter{Type: q.Get("type"), Q: q.Get("q")}
	var err error
	if f.Limit, f.After, err = queryPage(r); err != nil {
		return err
	}
	p, err := s.Shops.Search(r.Context(), f)
	if err != nil {
		return err
	}
	out := page[shopJSON]{Items: make([]shopJSON, len(p.Shops)), NextCursor: cursorString(p.Next)}
	for i, sh := range p.Shops {
		out.Items[i] = shopView(sh)
	}
	return writeJSON(w, http.StatusOK, out)
}

// queryFloat reads a finite number; def when the parameter is absent.
func queryFloat(r *http.Request, name string, def float64, required bool) (float64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		if required {
			return 0, zan.Errorf(zan.EBadRequest, "%s is required", name)
		}
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, zan.Errorf(zan.EBadRequest, "%s must be a number", name)
	}
	return f, nil
}

func (s *Server) nearbyShops(w http.ResponseWriter, r *http.Request) error {
	q := zan.NearbyQuery{Type: r.URL.Query().Get("type")}
	var err error
	if q.X, err = queryFloat(r, "x", 0, true); err != nil {
		return err
	}
	if q.Y, err = queryFloat(r, "y", 0, true); err != nil {
		return err
	}
	if q.RadiusM, err = queryFloat(r, "radius_m", 5000, false); err != nil {
		return err
	}
	if q.Limit, q.After, err = queryPage(r); err != nil {
		return err
	}
	p, err := s.Shops.Nearby(r.Context(), q)
	if err != nil {
		return err
	}
	out := page[shopJSON]{Items: make([]shopJSON, len(p.Shops)), NextCursor: cursorString(p.Next)}
	for i, sh := range p.Shops {
		out.Items[i] = shopView(sh)
		d := math.Round(p.Distances[i]*10) / 10
		out.Items[i].DistanceM = &d
	}
	return writeJSON(w, http.StatusOK, out)
}

func voucherView(v zan.Voucher) voucherJSON {
	return voucherJSON{
		ID: ID(v.ID), ShopID: ID(v.ShopID), Title: v.Title, Stock: v.Stock, Remaining: v.Remaining,
		BeginAt: Time(v.BeginAt), EndAt: Time(v.EndAt), CreatedAt: Time(v.CreatedAt),
	}
}

func (s *Server) createVoucher(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ShopID  ID        `json:"shop_id"`
		Title   string    `json:"title"`
		Stock   int64     `json:"stock"`
		BeginAt time.Time `json:"begin_at"`
		EndAt   time.Time `json:"end_at"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	v, err := s.Vouchers.Create(r.Context(), vouchers.Input{
		ShopID: int64(req.ShopID), Title: req.Title, Stock: req.Stock, BeginAt: req.BeginAt, EndAt: req.EndAt,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, voucherView(v))
}

func (s *Server) getVoucher(w http.ResponseWriter, r *http.Request) error {
	id, err := zan.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := s.Vouchers.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, voucherView(v))
}

func (s *Server) shopVouchers(w http.ResponseWriter, r *http.Request) error {
	id, err := zan.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	if _, err := s.Shops.Get(r.Context(), id); err != nil {
		return err
	}
	vs, err := s.Vouchers.ShopVouchers(r.Context(), id)
	if err != nil {
		return err
	}
	out := struct {
		Items []voucherJSON `json:"items"`
	}{Items: make([]voucherJSON, len(vs))}
	for i, v := range vs {
		out.Items[i] = voucherView(v)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) order(w http.ResponseWriter, r *http.Request) error {
	id, err := zan.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	oid, err := s.Vouchers.Order(r.Context(), userID(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, struct {
		OrderID ID `json:"order_id"`
	}{ID(oid)})
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) error {
	id, err := zan.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	o, err := s.Vouchers.GetOrder(r.Context(), userID(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, orderJSON{
		ID: ID(o.ID), VoucherID: ID(o.VoucherID), Status: string(o.Status), CreatedAt: Time(o.CreatedAt),
	})
}

// myOrders lists the caller's stored orders, newest first, each with its
// voucher (remaining as the store counts it, which trails the sale).
func (s *Server) myOrders(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := queryPage(r)
	if err != nil {
		return err
	}
	p, err := s.Vouchers.UserOrders(r.Context(), userID(r), limit, after)
	if err != nil {
		return err
	}
	out := page[orderJSON]{Items: make([]orderJSON, len(p.Items)), NextCursor: cursorString(p.Next)}
	for i, it := range p.Items {
		o := it.Order
		out.Items[i] = orderJSON{ID: ID(o.ID), VoucherID: ID(o.VoucherID), Status: string(o.Status), CreatedAt: Time(o.CreatedAt)}
		if it.Voucher.ID != 0 {
			v := voucherView(it.Voucher)
			out.Items[i].Voucher = &v
		}
	}
	return writeJSON(w, http.StatusOK, out)
}
