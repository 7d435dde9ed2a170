// Package metrics holds zan's Prometheus collectors, registered once on the
// default registry so every package can count without wiring.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	HTTPRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_http_requests_total", Help: "HTTP requests by route pattern and status.",
	}, []string{"route", "status"})
	HTTPDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "zan_http_request_duration_seconds",
		Help:    "HTTP request latency by route pattern.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})

	LikesPublished = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_likes_published_total", Help: "Like events acknowledged by the event log, by op.",
	}, []string{"op"})
	PublishFailures = promauto.NewCounter(prometheus.CounterOpts{
		Name: "zan_like_publish_failures_total", Help: "Like changes undone because the event log did not acknowledge them.",
	})
	HotLoads = promauto.NewCounter(prometheus.CounterOpts{
		Name: "zan_hot_loads_total", Help: "Targets loaded from the store into the hot state.",
	})
	HotEpochs = promauto.NewCounter(prometheus.CounterOpts{
		Name: "zan_hot_epochs_total", Help: "New epochs of the shared hot state started by this node: it was found lost, restarted, restored or failed over, and every target is loaded again.",
	})
	Compensations = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_like_compensations_total", Help: "Events published after the fact so that the store ends where clients were told, by why: undo (a publish failed, its change was undone), resolved (an answer whose writer died unconfirmed).",
	}, []string{"why"})
	HotEvictions = promauto.NewCounter(prometheus.CounterOpts{
		Name: "zan_hot_evictions_total", Help: "Cold targets evicted from the hot state.",
	})
	ColdReads = promauto.NewCounter(prometheus.CounterOpts{
		Name: "zan_cold_reads_total", Help: "Target reads answered from the store without loading.",
	})

	PersisterBatch = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "zan_persister_batch_size",
		Help:    "Events per batch applied by the persister.",
		Buckets: []float64{1, 10, 50, 100, 250, 500, 1000, 2000, 5000},
	})
	PersisterLag = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "zan_persister_lag_seconds", Help: "Age of the oldest event of the last batch when fetched.",
	})
	PersisterApplied = promauto.NewCounter(prometheus.CounterOpts{
		Name: "zan_persister_events_total", Help: "Events applied to the store (stale ones included).",
	})
	PersisterRetries = promauto.NewCounter(prometheus.CounterOpts{
		Name: "zan_persister_retries_total", Help: "Batch applications retried after an error.",
	})
	DeadLettered = promauto.NewCounter(prometheus.CounterOpts{
		Name: "zan_dead_lettered_total", Help: "Events moved to the dead-letter stream.",
	})

	RateLimited = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_rate_limited_total", Help: "Requests refused by a rate limit, by limit.",
	}, []string{"limit"})
	LikeTargetChecks = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_like_target_checks_total", Help: "Likes of targets this node did not know yet: looked_up (exists), not_found, foreign_new (a token of the user's bucket).",
	}, []string{"result"})
	ReconcileDrift = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_reconcile_drift_total", Help: "Drift found by reconciliation: count (stored count vs rows) or set (hot vs store).",
	}, []string{"kind"})
	ReconcileRepaired = promauto.NewCounter(prometheus.CounterOpts{
		Name: "zan_reconcile_repaired_total", Help: "Targets whose hot like set was dropped to reload from the store.",
	})
	L1Requests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_l1_requests_total", Help: "Reads of hot targets from the in-process L1 cache, by hit or miss.",
	}, []string{"result"})
	HotKeys = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "zan_hot_keys", Help: "Targets the HeavyKeeper sketch reports hot now on this node.",
	})

	ShopCache = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_shop_cache_requests_total",
		Help: "Shop reads by how the cache answered: l1, l2 (hits), stale (served past its logical expiry), absent (known missing: Bloom filter or absent entry), miss (read from the store).",
	}, []string{"result"})
	ShopRebuilds = promauto.NewCounter(prometheus.CounterOpts{
		Name: "zan_shop_cache_rebuilds_total", Help: "Shop cache entries rebuilt from the store.",
	})
	ShopInvalidations = promauto.NewCounter(prometheus.CounterOpts{
		Name: "zan_shop_cache_invalidations_total", Help: "Shop L1 entries dropped on a notification from any node.",
	})
	Orders = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_voucher_orders_total",
		Help: "Order attempts by outcome: taken, sold_out, duplicate, window, rate_limited, unavailable.",
	}, []string{"result"})
	OrdersWritten = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_voucher_orders_written_total",
		Help: "Orders handled by the order writer: stored, exists (redelivered), rejected_duplicate, rejected_sold_out.",
	}, []string{"outcome"})
	OrderLag = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "zan_order_writer_lag_seconds", Help: "Age of the oldest order of the last batch the order writer stored.",
	})
	NotifyLag = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "zan_notify_lag_seconds",
		Help:    "Time from a like event's publication to its notification in the inbox, per batch (its oldest event).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	NotifyApplied = promauto.NewCounter(prometheus.CounterOpts{
		Name: "zan_notify_events_total", Help: "Like events of blogs taken by the notifier (stale, kept and own likes included).",
	})
	NotifyStreams = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "zan_notify_streams", Help: "Unread-count streams (SSE) open on this node.",
	})
	WebhookDeliveries = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_webhook_deliveries_total", Help: "Webhook POSTs by endpoint id and result: ok, failed (retried).",
	}, []string{"endpoint", "result"})
	WebhookDead = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_webhook_dead_total", Help: "Like events dead-lettered by webhook endpoint id: the endpoint failed for longer than the dead-letter limit.",
	}, []string{"endpoint"})
	WebhookLag = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "zan_webhook_lag_seconds",
		Help:    "Time from a like event's publication to its acceptance by a webhook endpoint.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"endpoint"})
	LiveStreams = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "zan_live_streams", Help: "Live count streams (SSE) open on this node.",
	})
	LiveDropped = promauto.NewCounter(prometheus.CounterOpts{
		Name: "zan_live_streams_dropped_total", Help: "Live count streams closed because the client did not read in time.",
	})

	MirrorLag = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "zan_migration_mirror_lag_seconds", Help: "Online migration: age of the oldest event of the mirror persister's last batch (0 when it found none).",
	})
	MirrorApplied = promauto.NewCounter(prometheus.CounterOpts{
		Name: "zan_migration_mirror_events_total", Help: "Online migration: events the mirror persister applied to the other store.",
	})
	MigrationDrift = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "zan_migration_drift", Help: "Online migration: differences between the stores the last verification found and found again after both persisters caught up, by kind: totals, counts, rows.",
	}, []string{"kind"})
	MigrationVerified = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_migration_verifications_total", Help: "Online migration: verification rounds by result: equal, drift, error.",
	}, []string{"result"})
	MigrationPhase = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "zan_migration_phase", Help: "Online migration: 1 for the phase this node is in (copy, mirror, reads, writes, retired).",
	}, []string{"phase"})
	MigrationReadShare = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "zan_migration_read_share", Help: "Online migration: percent of like reads served by the destination.",
	})
	MigrationReads = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_migration_reads_total", Help: "Online migration: like reads by the store that answered: source, destination.",
	}, []string{"store"})
	MigrationShadow = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_migration_shadow_total", Help: "Online migration: reads answered by one store and asked of the other in the shadow, by result: equal, different, error, skipped (too many in flight).",
	}, []string{"result"})
	MigrationRowCopies = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_migration_row_copies_total", Help: "Online migration: writes of rows (not likes) copied to the other store after the record took them, by result: ok, failed (left to the sweep).",
	}, []string{"result"})
	MigrationFenceHold = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "zan_migration_fence_hold_seconds",
		Help:    "Online migration: how long writes of rows waited on this node when the record changed.",
		Buckets: []float64{.1, .25, .5, .75, 1, 1.25, 1.5, 2, 3, 5},
	})
	MigrationSwept = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zan_migration_swept_rows_total", Help: "Online migration: rows (not likes) the sweep wrote or deleted in the other store, by table.",
	}, []string{"table"})
)
