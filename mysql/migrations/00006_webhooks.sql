-- Webhook endpoints registered through the admin API, and the events an
-- endpoint did not accept in time (per endpoint, one row per event, so a
-- batch dead-lettered twice is kept once). zan_webhook_dead.endpoint is a
-- registered webhook's id in decimal or a --webhook endpoint's id, hence
-- text and no foreign key. events is "like,unlike" or a subset.

-- +goose Up
CREATE TABLE IF NOT EXISTS zan_webhooks (
    id         BIGINT        NOT NULL,
    url        VARCHAR(2048) NOT NULL,
    secret     VARCHAR(255)  NOT NULL,
    events     VARCHAR(64)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_at BIGINT        NOT NULL,
    PRIMARY KEY (id) /*T![clustered_index] CLUSTERED */
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS zan_webhook_dead (
    endpoint VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    event_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    event    VARCHAR(1024) NOT NULL,
    reason   VARCHAR(512) NOT NULL,
    at       BIGINT       NOT NULL,
    PRIMARY KEY (endpoint, event_id) /*T![clustered_index] CLUSTERED */,
    KEY zan_webhook_dead_at (endpoint, at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS zan_webhook_dead;
DROP TABLE IF EXISTS zan_webhooks;
