-- Inboxes: "someone liked your post". See zan.NotificationStore.
--
-- unread is 1 while an item is unread and NULL once read: the unique key
-- then allows one unread item per (user, target) and any number of read
-- ones (NULLs never clash). Item ids come from zan.IDGen, as everywhere.
-- zan_notifications is CLUSTERED on (user_id, id) so that an inbox is
-- contiguous; a user's reads and writes touch one region.

-- +goose Up
CREATE TABLE IF NOT EXISTS zan_notifications (
    id          BIGINT      NOT NULL,
    user_id     BIGINT      NOT NULL,
    kind        VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    target_type VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    target_id   BIGINT      NOT NULL,
    actors      VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    actor_count BIGINT      NOT NULL,
    unread      TINYINT     NULL,
    updated_at  BIGINT      NOT NULL,
    read_at     BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, id) /*T![clustered_index] CLUSTERED */,
    UNIQUE KEY zan_notifications_id (id),
    UNIQUE KEY zan_notifications_open (user_id, target_type, target_id, unread),
    KEY zan_notifications_inbox (user_id, updated_at, id),
    KEY zan_notifications_read (unread, read_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Per (target, actor): the item the actor counts in (0: none), whether the
-- last notice was a like, and its At. Kept after the item is read, so that
-- toggling a like never notifies twice, and for staleness.
CREATE TABLE IF NOT EXISTS zan_notification_actors (
    target_type     VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    target_id       BIGINT      NOT NULL,
    actor_id        BIGINT      NOT NULL,
    notification_id BIGINT      NOT NULL,
    liked           TINYINT     NOT NULL,
    at              BIGINT      NOT NULL,
    PRIMARY KEY (target_type, target_id, actor_id) /*T![clustered_index] CLUSTERED */,
    KEY zan_notification_actors_item (notification_id, liked, at),
    KEY zan_notification_actors_at (at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The unread count, kept in the transaction that changes it.
CREATE TABLE IF NOT EXISTS zan_notification_unread (
    user_id BIGINT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (user_id) /*T![clustered_index] CLUSTERED */
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS zan_notification_unread;
DROP TABLE IF EXISTS zan_notification_actors;
DROP TABLE IF EXISTS zan_notifications;
