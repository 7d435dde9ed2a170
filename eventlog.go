package zan

import (
	"context"
	"sync"
	"time"
)

// Batch is a run of events fetched from one partition of the event log.
// Ack acknowledges all of them; until then they are redelivered if the
// process dies.
type Batch struct {
	Events []Event
	// Ack acknowledges every message of the batch (malformed ones included:
	// the log moved those to the dead-letter stream when it fetched them).
	Ack func(ctx context.Context) error
	// Nak hands every message of the batch back for redelivery now, after
	// a failed apply, rather than after the log's acknowledgement timeout.
	Nak func()
	// Progress tells the log the batch is still being applied, so that it
	// is not handed to another node when the log's acknowledgement timeout
	// passes (a store that is down makes a batch wait for as long as it
	// takes). Nil when the log has no such timeout.
	Progress func()
	// Lag is how long the oldest event of the batch waited in the log.
	Lag time.Duration
}

// DeadLetter is an event that could not be applied, kept for an operator.
type DeadLetter struct {
	Seq    uint64 // its sequence in the dead-letter stream
	Event  *Event // nil when the message was malformed
	Raw    []byte
	Reason string
	At     time.Time
}

// EventFeed is one durable reader of the like log, with a position of its
// own, shared by every node (each event is handed to one node). The
// persister's is the log's own; others (the notifier, a migration's second
// persister) open theirs with EventLog.Feed, so that a reader that is slow
// or stopped delays nobody else.
type EventFeed interface {
	// Partitions is the number of partitions.
	Partitions() int
	// Fetch waits up to wait for up to max events of a partition. An empty
	// batch is not an error.
	Fetch(ctx context.Context, partition, max int, wait time.Duration) (Batch, error)
	// WaitApplied returns once every event published before the call has
	// been acknowledged by this reader (for the persister: applied to the
	// store or dead-lettered), or when ctx ends. It goes by what the
	// reader acknowledged, never by what the log still holds.
	WaitApplied(ctx context.Context) error
}

// EventLog is the durable, partitioned log of like events between the hot
// state and the store. Implementation: natslog (embedded or external NATS
// JetStream). As an EventFeed it is the persister's reader.
type EventLog interface {
	EventFeed
	// Publish stores ev durably and returns once the log acknowledged it.
	// Publishing the same ev.ID again (within the de-duplication window)
	// stores it once. Events of one target go to one partition, in order.
	Publish(ctx context.Context, ev Event) error
	// Feed opens the reader name (creating it on first use, starting at
	// the oldest event the log keeps, which includes every event the
	// persister has not applied). The log keeps events until every reader
	// acknowledged them, except for a reader so far behind that keeping
	// them would let the log grow without bound: that one skips ahead.
	Feed(ctx context.Context, name string) (EventFeed, error)
	// DropFeed deletes the reader name and its position.
	DropFeed(ctx context.Context, name string) error
	// DeadLetter moves events to the dead-letter stream with a reason.
	DeadLetter(ctx context.Context, events []Event, reason string) error
	// DeadLetters lists up to limit dead letters, oldest first.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// Replay publishes the dead letters with these sequences (all, when seqs
	// is empty) back to the log and removes them from the dead-letter
	// stream. It returns how many it replayed.
	Replay(ctx context.Context, seqs []uint64) (int, error)
	// Ping checks that the log answers.
	Ping(ctx context.Context) error
	Close() error
}

// ProgressEvery is how often a batch being applied is reported in
// progress; the log's acknowledgement timeout must be longer.
const ProgressEvery = time.Second

// KeepInProgress calls progress every ProgressEvery until stop is called:
// around the application of a batch that may take long (a store that is
// down is waited for). A nil progress does nothing.
func KeepInProgress(progress func()) (stop func()) {
	if progress == nil {
		return func() {}
	}
	return Every(ProgressEvery, progress)
}

// Every calls fn every d in its own goroutine until stop is called (more
// than once is fine).
func Every(d time.Duration, fn func()) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}
