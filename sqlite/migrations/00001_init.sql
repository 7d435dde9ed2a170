-- +goose Up
CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    phone      TEXT    NOT NULL UNIQUE,
    nickname   TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE blogs (
    id         INTEGER PRIMARY KEY,
    author_id  INTEGER NOT NULL,
    title      TEXT    NOT NULL,
    content    TEXT    NOT NULL,
    shop_id    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE INDEX blogs_author ON blogs (author_id, id);

-- Rows with liked = 0 are tombstones: they remember when a user unliked, so
-- that an older like delivered late is recognised as stale.
CREATE TABLE likes (
    target_type TEXT    NOT NULL,
    target_id   INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    liked       INTEGER NOT NULL,
    liked_at    INTEGER NOT NULL,
    changed_at  INTEGER NOT NULL,
    PRIMARY KEY (target_type, target_id, user_id)
) WITHOUT ROWID;

CREATE INDEX likes_likers ON likes (target_type, target_id, liked_at, user_id) WHERE liked = 1;
CREATE INDEX likes_user ON likes (user_id, liked_at, target_type, target_id) WHERE liked = 1;

CREATE TABLE like_counts (
    target_type TEXT    NOT NULL,
    target_id   INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (target_type, target_id)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE like_counts;
DROP TABLE likes;
DROP TABLE blogs;
DROP TABLE sessions;
DROP TABLE users;
