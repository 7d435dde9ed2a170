-- Webhook endpoints registered through the admin API, and the events an
-- endpoint did not accept in time (per endpoint, one row per event, so a
-- batch dead-lettered twice is kept once). webhook_dead.endpoint is a
-- registered webhook's id in decimal or a --webhook endpoint's id, hence
-- text and no foreign key. events is "like,unlike" or a subset.

-- +goose Up
CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY,
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    events     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE webhook_dead (
    endpoint TEXT    NOT NULL,
    event_id TEXT    NOT NULL,
    event    TEXT    NOT NULL,
    reason   TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    PRIMARY KEY (endpoint, event_id)
) WITHOUT ROWID;

CREATE INDEX webhook_dead_at ON webhook_dead (endpoint, at);

-- +goose Down
DROP TABLE webhook_dead;
DROP TABLE webhooks;
