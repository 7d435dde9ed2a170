package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/httpapi"
	"github.com/zanlabs/zan/migrate"
	"github.com/zanlabs/zan/mysql"
	"github.com/zanlabs/zan/persist"
)

// mirrorFeed is the feed name of a migration's second persister: its own
// durable position in the like log, shared by every node.
const mirrorFeed = "mirror"

// mirror is an online migration on this node (--mirror-db): the store the
// services see, the log they wait on, and the workers it adds.
type mirror struct {
	router   *migrate.Router
	log      zan.EventLog // waits for both persisters
	online   *migrate.Online
	switcher *migrate.Switch
	persist  *persist.Persister
	verifier *migrate.Verifier
	sweeper  *migrate.Sweeper
}

// mirrorSource is the mirror's feed, dead-lettering into the log's stream:
// a replayed letter reaches both persisters again, which is harmless.
type mirrorSource struct {
	zan.EventFeed
	log zan.EventLog
}

func (m mirrorSource) DeadLetter(ctx context.Context, events []zan.Event, reason string) error {
	return m.log.DeadLetter(ctx, events, reason)
}

// openMirror opens the destination of --mirror-db (running its
// migrations) and the mirror's feed. cache holds the migration's state
// when it is shared by the nodes; nil keeps it in this process.
func (m *Main) openMirror(ctx context.Context, cache zan.Cache) (*mirror, error) {
	c := &m.Config
	dst, err := mysql.Open(ctx, c.MirrorDB)
	if err != nil {
		return nil, fmt.Errorf("--mirror-db: %w", err)
	}
	m.closers = append(m.closers, dst.Close) // after the log, with the store
	src, ok := m.store.(migrate.VerifyStore)
	if !ok {
		return nil, fmt.Errorf("--mirror-db: the store cannot be verified")
	}
	feed, err := m.log.Feed(ctx, mirrorFeed)
	if err != nil {
		return nil, fmt.Errorf("--mirror-db: opening the mirror's feed: %w", err)
	}
	sw, err := migrate.NewSwitch(ctx, cache, redactDB(c.MirrorDB), m.Logger)
	if err != nil {
		return nil, fmt.Errorf("--mirror-db: reading the migration's state: %w", err)
	}
	if cache == nil {
		// One node: its state outlives a restart in its data directory.
		if err := sw.PersistTo(filepath.Join(c.Data, "migration-state.json")); err != nil {
			return nil, fmt.Errorf("--mirror-db: %w", err)
		}
	}
	recent := migrate.NewRecent(dst)
	both := migrate.BothApplied(m.log, feed)
	router := migrate.NewRouter(m.store, dst, sw)
	router.Logger = m.Logger
	mr := &mirror{
		router:   router,
		sweeper:  &migrate.Sweeper{Router: router, Logger: m.Logger},
		log:      both,
		switcher: sw,
		persist: persist.New(persist.Config{BatchSize: c.BatchSize, MaxWait: c.BatchWait, Retries: c.Retries, Mirror: true},
			mirrorSource{feed, m.log}, recent, m.Logger.With("persister", "mirror")),
		verifier: &migrate.Verifier{Switch: sw, Source: src, Dest: dst, Wait: both.WaitApplied, Recent: recent, Logger: m.Logger},
	}
	mr.online = &migrate.Online{Switch: sw, Verifier: mr.verifier, Sweeper: mr.sweeper, Source: or(redactDB(c.DBURL), "SQLite"), Dest: redactDB(c.MirrorDB)}
	m.Logger.Info("online migration: mirroring likes and rows", "to", redactDB(c.MirrorDB), "phase", sw.State().Phase)
	return mr, nil
}

// admin is the migration's admin API; nil without a migration.
func (mr *mirror) admin() httpapi.Migration {
	if mr == nil {
		return nil
	}
	return mr.online
}
