package zan

import (
	"sync/atomic"
	"time"
)

// IDEpoch is the origin of ids' time bits.
var IDEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	idNodeBits = 10
	idSeqBits  = 12
	// MaxNode is the largest node number an IDGen takes.
	MaxNode = 1<<idNodeBits - 1
)

// IDGen makes time-ordered 64-bit ids: 41 bits of milliseconds since
// IDEpoch, 10 bits of node, 12 bits of sequence. Time order keeps inserts at
// the end of B-trees in SQLite and MySQL; the node bits keep nodes apart.
// In a distributed store (TiDB) ids are still spread across regions by their
// low bits where a table is sharded; see the mysql package.
type IDGen struct {
	node  int64
	state atomic.Int64 // ms<<idSeqBits | seq
	now   func() time.Time
}

// NewIDGen returns a generator for node (0..MaxNode).
func NewIDGen(node int) *IDGen {
	if node < 0 || node > MaxNode {
		panic("zan: node out of range")
	}
	return &IDGen{node: int64(node), now: time.Now}
}

// Next returns a new id, greater than every id this generator returned before.
func (g *IDGen) Next() int64 {
	for {
		old := g.state.Load()
		ms := g.now().Sub(IDEpoch).Milliseconds()
		last, seq := old>>idSeqBits, old&(1<<idSeqBits-1)
		switch {
		case ms > last:
			seq = 0
		case seq < 1<<idSeqBits-1:
			ms, seq = last, seq+1
		default:
			// The sequence of this millisecond is used up: borrow the next
			// millisecond rather than wait.
			ms, seq = last+1, 0
		}
		if g.state.CompareAndSwap(old, ms<<idSeqBits|seq) {
			return ms<<(idNodeBits+idSeqBits) | g.node<<idSeqBits | seq
		}
	}
}

// IDTime returns the time an id of IDGen was made.
func IDTime(id int64) time.Time {
	return IDEpoch.Add(time.Duration(id>>(idNodeBits+idSeqBits)) * time.Millisecond)
}
