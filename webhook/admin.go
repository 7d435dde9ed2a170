package webhook

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Limits of a registration.
const (
	MinSecret = 16   // bytes: shorter secrets are guessable offline from one signed delivery
	MaxSecret = 255  // bytes
	MaxURL    = 2048 // bytes
)

// ReplayMax is the most dead letters one Replay call re-delivers.
const ReplayMax = 1000

// Status is an endpoint as the admin API lists it: never its secret.
type Status struct {
	Endpoint
	// FailingSince is when the endpoint's current run of failures began,
	// as this node saw it; zero while it accepts (or before a try here).
	FailingSince time.Time
}

// Register validates and stores a new endpoint, and starts delivering to
// it on this node at once (the others pick it up within Config.Refresh).
// events are "like" and/or "unlike"; none: both.
func (d *Deliverer) Register(ctx context.Context, rawURL, secret string, events []string) (Endpoint, error) {
	if d.store == nil || d.ids == nil {
		return Endpoint{}, zan.Errorf(zan.EUnavailable, "webhook registration needs the store")
	}
	ops, err := validate(rawURL, secret, events)
	if err != nil {
		return Endpoint{}, err
	}
	w := zan.Webhook{ID: d.ids.Next(), URL: rawURL, Secret: secret, Events: ops, CreatedAt: time.Now().UTC()}
	if err := d.store.CreateWebhook(ctx, w); err != nil {
		return Endpoint{}, err
	}
	if err := d.Sync(ctx); err != nil {
		d.logger.Warn("webhook: starting a new endpoint (next refresh retries)", "err", err)
	}
	return registered(w), nil
}

func validate(rawURL, secret string, events []string) ([]zan.Op, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" || u.User != nil {
		return nil, zan.Errorf(zan.EBadRequest, "url must be an absolute http(s) URL without credentials or fragment")
	}
	if len(rawURL) > MaxURL {
		return nil, zan.Errorf(zan.EBadRequest, "url is longer than %d bytes", MaxURL)
	}
	if len(secret) < MinSecret || len(secret) > MaxSecret {
		return nil, zan.Errorf(zan.EBadRequest, "secret must be %d to %d bytes", MinSecret, MaxSecret)
	}
	if events == nil {
		return []zan.Op{zan.OpLike, zan.OpUnlike}, nil
	}
	var ops []zan.Op
	for _, ev := range events {
		var op zan.Op
		switch ev {
		case "like":
			op = zan.OpLike
		case "unlike":
			op = zan.OpUnlike
		default:
			return nil, zan.Errorf(zan.EBadRequest, `events: unknown event %q (want "like", "unlike")`, ev)
		}
		if !slices.Contains(ops, op) {
			ops = append(ops, op)
		}
	}
	if len(ops) == 0 {
		return nil, zan.Errorf(zan.EBadRequest, "events: give at least one, or leave it out for all")
	}
	slices.Sort(ops)
	return ops, nil
}

// List returns the static endpoints, then the registered ones, oldest
// first.
func (d *Deliverer) List(ctx context.Context) ([]Status, error) {
	es, err := d.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Status, len(es))
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, e := range es {
		out[i].Endpoint = e
		if r := d.running[e.ID]; r != nil {
			if ns := r.failingSince.Load(); ns != 0 {
				out[i].FailingSince = time.Unix(0, ns).UTC()
			}
		}
	}
	return out, nil
}

func (d *Deliverer) endpoints(ctx context.Context) ([]Endpoint, error) {
	es := slices.Clone(d.static)
	if d.store != nil {
		ws, err := d.store.Webhooks(ctx)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			es = append(es, registered(w))
		}
	}
	return es, nil
}

// endpoint returns the endpoint id; ENotFound when there is none.
func (d *Deliverer) endpoint(ctx context.Context, id string) (Endpoint, error) {
	es, err := d.endpoints(ctx)
	if err != nil {
		return Endpoint{}, err
	}
	for _, e := range es {
		if e.ID == id {
			return e, nil
		}
	}
	return Endpoint{}, zan.Errorf(zan.ENotFound, "webhook not found")
}

// Delete removes a registered endpoint and its dead letters: this node
// stops delivering to it at once, the others within Config.Refresh.
func (d *Deliverer) Delete(ctx context.Context, id string) error {
	for _, e := range d.static {
		if e.ID == id {
			return zan.Errorf(zan.EConflict, "webhook %s comes from --webhook: remove it there", id)
		}
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || d.store == nil {
		return zan.Errorf(zan.ENotFound, "webhook not found")
	}
	if err := d.store.DeleteWebhook(ctx, n); err != nil {
		return err
	}
	if err := d.Sync(ctx); err != nil {
		d.logger.Warn("webhook: stopping a deleted endpoint (next refresh retries)", "err", err)
	}
	return nil
}

// DeadLetters lists up to limit of endpoint id's dead letters, oldest
// first.
func (d *Deliverer) DeadLetters(ctx context.Context, id string, limit int) ([]zan.WebhookDead, error) {
	if _, err := d.endpoint(ctx, id); err != nil {
		return nil, err
	}
	if d.store == nil {
		return nil, nil
	}
	return d.store.WebhookDeadLetters(ctx, id, limit)
}

// ReplayResult says what Replay did.
type ReplayResult struct {
	Replayed int // accepted by the endpoint and removed from the list
	// Left are the dead letters still listed (of those Replay looked at);
	// Err says why the first of them failed.
	Left int
	Err  error
}

// Replay re-delivers endpoint id's dead letters, oldest first (those of
// eventIDs; none: all, up to ReplayMax), each POSTed once within the
// endpoint's concurrency bound. It stops at the first failure, leaving
// that one and the rest listed. A dead letter is removed only after the
// endpoint accepted it: at least once.
func (d *Deliverer) Replay(ctx context.Context, id string, eventIDs []string) (ReplayResult, error) {
	e, err := d.endpoint(ctx, id)
	if err != nil {
		return ReplayResult{}, err
	}
	if d.store == nil {
		return ReplayResult{}, nil
	}
	ds, err := d.store.WebhookDeadLetters(ctx, id, ReplayMax)
	if err != nil {
		return ReplayResult{}, err
	}
	if len(eventIDs) > 0 {
		ds = slices.DeleteFunc(ds, func(dl zan.WebhookDead) bool { return !slices.Contains(eventIDs, dl.Event.ID) })
	}
	d.mu.Lock()
	r := d.running[id]
	d.mu.Unlock()
	if r == nil { // not delivering here (yet): bound the replay alone
		r = &runner{e: e, slots: make(chan struct{}, d.cfg.Concurrency)}
	}
	var res ReplayResult
	var done []string
	flush := func() error {
		if len(done) == 0 {
			return nil
		}
		err := d.store.DeleteWebhookDead(context.WithoutCancel(ctx), id, done)
		res.Replayed += len(done)
		done = done[:0]
		return err
	}
	for i, dl := range ds {
		if err := d.postSlot(ctx, r, dl.Event, dl.Event.AppendJSON(nil)); err != nil {
			res.Left, res.Err = len(ds)-i, err
			break
		}
		done = append(done, dl.Event.ID)
		if len(done) == 100 {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	return res, flush()
}

// deadLetter keeps ev as a dead letter of e, failed with cause.
func (d *Deliverer) deadLetter(ctx context.Context, e Endpoint, ev zan.Event, cause error) error {
	if d.store == nil {
		return errors.New("no store to keep dead letters in")
	}
	reason := cause.Error()
	if len(reason) > 500 {
		reason = strings.ToValidUTF8(reason[:500], "")
	}
	err := d.store.AddWebhookDead(ctx, []zan.WebhookDead{{Endpoint: e.ID, Event: ev, Reason: reason, At: time.Now().UTC()}})
	if err != nil {
		return err
	}
	metrics.WebhookDead.WithLabelValues(e.ID).Inc()
	d.logger.Warn("webhook: event dead-lettered", "endpoint", e.URL, "event", ev.ID, "reason", reason)
	return nil
}
