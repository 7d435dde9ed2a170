package natslog

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zanlabs/zan"
)

var _ zan.OrderLog = (*Log)(nil)

// setupOrders creates the order stream and the order writer's consumer.
// Orders are independent of each other (the store's unique key, not their
// order, decides), so one subject and one consumer shared by every node do.
func (l *Log) setupOrders(ctx context.Context) error {
	name := l.cfg.Name
	l.orderSubj = name + ".orders"
	var err error
	l.orders, err = l.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        strings.ToUpper(name) + "_ORDERS",
		Description: "zan voucher orders won in the hot state, for the order writer",
		Subjects:    []string{l.orderSubj},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  2 * time.Minute,
		Replicas:    l.cfg.Replicas,
	})
	if err != nil {
		return zan.Unavailable("event log: orders stream", err)
	}
	l.orderCons, err = l.consumer(ctx, l.orders, name+"-orders", "")
	return err
}

// wireOrder is an order on the wire; ids are strings as everywhere in zan's
// JSON, at is Unix microseconds.
type wireOrder struct {
	ID      string `json:"id"`
	Voucher string `json:"voucher"`
	User    string `json:"user"`
	At      int64  `json:"at"`
}

func encodeOrder(o zan.VoucherOrder) []byte {
	b, _ := json.Marshal(wireOrder{
		ID: strconv.FormatInt(o.ID, 10), Voucher: strconv.FormatInt(o.VoucherID, 10),
		User: strconv.FormatInt(o.UserID, 10), At: o.CreatedAt.UnixMicro(),
	})
	return b
}

func decodeOrder(b []byte) (zan.VoucherOrder, error) {
	var w wireOrder
	if err := json.Unmarshal(b, &w); err != nil {
		return zan.VoucherOrder{}, zan.Errorf(zan.EBadRequest, "malformed order: %v", err)
	}
	id, err1 := zan.ParseID(w.ID)
	v, err2 := zan.ParseID(w.Voucher)
	u, err3 := zan.ParseID(w.User)
	if err := errors.Join(err1, err2, err3); err != nil || w.At <= 0 {
		return zan.VoucherOrder{}, zan.Errorf(zan.EBadRequest, "malformed order")
	}
	return zan.VoucherOrder{ID: id, VoucherID: v, UserID: u, Status: zan.OrderPending,
		CreatedAt: time.UnixMicro(w.At).UTC()}, nil
}

// PublishOrder implements zan.OrderLog.
func (l *Log) PublishOrder(ctx context.Context, o zan.VoucherOrder) error {
	return l.publish(ctx, l.orderSubj, encodeOrder(o), "o"+strconv.FormatInt(o.ID, 10))
}

// FetchOrders implements zan.OrderLog.
func (l *Log) FetchOrders(ctx context.Context, max int, wait time.Duration) (zan.OrderBatch, error) {
	if max <= 0 {
		max = 1
	}
	if err := ctx.Err(); err != nil {
		return zan.OrderBatch{}, err
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		wait = time.Until(d)
	}
	pl := &l.orderPull
	pl.mu.Lock()
	defer pl.mu.Unlock()
	got, err := l.pull(pl, l.orderCons, max, wait)
	if err != nil {
		return zan.OrderBatch{}, zan.Unavailable("event log", err)
	}
	if len(got) == 0 {
		return zan.OrderBatch{}, nil
	}
	var orders []zan.VoucherOrder
	for _, m := range got {
		o, err := decodeOrder(m.Data())
		if err != nil {
			// Kept for an operator beside the like dead letters; acked with
			// the batch once it is there.
			if err := l.deadLetterRaw(ctx, m.Data(), "malformed order: "+zan.ErrorMessage(err)); err != nil {
				l.nakAll(got)
				return zan.OrderBatch{}, err
			}
			continue
		}
		orders = append(orders, o)
	}
	b := zan.OrderBatch{Orders: orders}
	b.Ack, b.Nak, b.Progress = l.settle(got)
	return b, nil
}

// WaitOrdersApplied implements zan.OrderLog.
func (l *Log) WaitOrdersApplied(ctx context.Context) error {
	return l.waitApplied(ctx, l.orders, []string{l.orderSubj}, []jetstream.Consumer{l.orderCons})
}
