-- Schema for MariaDB 10.11+, MySQL 8 and TiDB. Every table is prefixed zan_
-- so the store can share a database with other applications.
--
-- Choices made for TiDB (harmless on InnoDB, where /*T! ... */ is a plain
-- comment):
--   * Ids come from zan.IDGen (time, node, sequence bits), never from
--     AUTO_INCREMENT: a single counter is a write hotspot on one TiKV region
--     and needs a round trip to allocate.
--   * users and blogs keep their time-ordered id as a NONCLUSTERED primary
--     key and shard the hidden row id (SHARD_ROW_ID_BITS), so inserts of new
--     rows spread over several regions instead of all landing at the tail.
--   * likes is CLUSTERED on (target_type, target_id, user_id): a target's
--     likes are contiguous in one region, so a batch for one target, the
--     likers listing and a recount touch few regions, while different
--     targets spread over the cluster.
--   * Each table is created in one statement with its indexes, IF NOT
--     EXISTS: DDL is not transactional on any of the three, so a migration
--     that died halfway can simply run again.
--
-- Times are Unix microseconds in BIGINT: no time zone or precision
-- differences between the three servers.

-- +goose Up
CREATE TABLE IF NOT EXISTS zan_users (
    id         BIGINT       NOT NULL,
    phone      VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    nickname   VARCHAR(255) NOT NULL,
    created_at BIGINT       NOT NULL,
    PRIMARY KEY (id) /*T![clustered_index] NONCLUSTERED */,
    UNIQUE KEY zan_users_phone (phone)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin /*T! SHARD_ROW_ID_BITS = 4 */;

-- Token hashes are uniformly random: the clustered key spreads by itself.
CREATE TABLE IF NOT EXISTS zan_sessions (
    token_hash BINARY(32) NOT NULL,
    user_id    BIGINT     NOT NULL,
    expires_at BIGINT     NOT NULL,
    PRIMARY KEY (token_hash) /*T![clustered_index] CLUSTERED */,
    KEY zan_sessions_expires_at (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS zan_blogs (
    id         BIGINT       NOT NULL,
    author_id  BIGINT       NOT NULL,
    title      VARCHAR(400) NOT NULL,
    content    MEDIUMTEXT   NOT NULL,
    shop_id    BIGINT       NOT NULL DEFAULT 0,
    created_at BIGINT       NOT NULL,
    PRIMARY KEY (id) /*T![clustered_index] NONCLUSTERED */,
    KEY zan_blogs_author (author_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin /*T! SHARD_ROW_ID_BITS = 4 */;

-- Rows with liked = 0 are tombstones: they remember when a user unliked, so
-- that an older like delivered late is recognised as stale. There are no
-- partial indexes in MySQL, so liked leads the listing indexes after the
-- equality columns: a listing reads only the liked = 1 range. ascii_bin
-- makes target types compare bytewise, as Go compares the cursor.
CREATE TABLE IF NOT EXISTS zan_likes (
    target_type VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    target_id   BIGINT      NOT NULL,
    user_id     BIGINT      NOT NULL,
    liked       TINYINT     NOT NULL,
    liked_at    BIGINT      NOT NULL,
    changed_at  BIGINT      NOT NULL,
    PRIMARY KEY (target_type, target_id, user_id) /*T![clustered_index] CLUSTERED */,
    KEY zan_likes_likers (target_type, target_id, liked, liked_at, user_id),
    KEY zan_likes_user (user_id, liked, liked_at, target_type, target_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS zan_like_counts (
    target_type VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    target_id   BIGINT      NOT NULL,
    count       BIGINT      NOT NULL,
    PRIMARY KEY (target_type, target_id) /*T![clustered_index] CLUSTERED */
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS zan_like_counts;
DROP TABLE IF EXISTS zan_likes;
DROP TABLE IF EXISTS zan_blogs;
DROP TABLE IF EXISTS zan_sessions;
DROP TABLE IF EXISTS zan_users;
