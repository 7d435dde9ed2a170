-- Inboxes: "someone liked your post". See zan.NotificationStore.
--
-- unread is 1 while an item is unread and NULL once read: the unique index
-- then allows one unread item per (user, target) and any number of read
-- ones (NULLs never clash), in SQLite and MySQL alike.

-- +goose Up
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    target_type TEXT    NOT NULL,
    target_id   INTEGER NOT NULL,
    actors      TEXT    NOT NULL,
    actor_count INTEGER NOT NULL,
    unread      INTEGER,
    updated_at  INTEGER NOT NULL,
    read_at     INTEGER NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX notifications_open ON notifications (user_id, target_type, target_id, unread);
CREATE INDEX notifications_inbox ON notifications (user_id, updated_at, id);
CREATE INDEX notifications_read ON notifications (read_at) WHERE unread IS NULL;

-- Per (target, actor): the item the actor counts in (0: none), whether the
-- last notice was a like, and its At. Kept after the item is read, so that
-- toggling a like never notifies twice, and for staleness.
CREATE TABLE notification_actors (
    target_type     TEXT    NOT NULL,
    target_id       INTEGER NOT NULL,
    actor_id        INTEGER NOT NULL,
    notification_id INTEGER NOT NULL,
    liked           INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    PRIMARY KEY (target_type, target_id, actor_id)
) WITHOUT ROWID;

CREATE INDEX notification_actors_item ON notification_actors (notification_id, liked, at);
CREATE INDEX notification_actors_at ON notification_actors (at);

-- The unread count, kept in the transaction that changes it.
CREATE TABLE notification_unread (
    user_id INTEGER PRIMARY KEY,
    n       INTEGER NOT NULL
);

-- +goose Down
DROP TABLE notification_unread;
DROP TABLE notification_actors;
DROP TABLE notifications;
