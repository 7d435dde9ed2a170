-- Shops, vouchers and orders. TiDB choices as in 00001: ids from zan.IDGen,
-- NONCLUSTERED keys with sharded row ids for tables written at the tail.
-- Search is a word table (no FULLTEXT: TiDB has none, and MariaDB's skips
-- short and stop words), queried by prefix ranges on its primary key.

-- +goose Up
CREATE TABLE IF NOT EXISTS zan_shops (
    id         BIGINT       NOT NULL,
    name       VARCHAR(255) NOT NULL,
    type       VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    address    VARCHAR(1024) NOT NULL,
    x          DOUBLE       NOT NULL,
    y          DOUBLE       NOT NULL,
    geohash    CHAR(12)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    score      DOUBLE       NOT NULL,
    avg_price  BIGINT       NOT NULL,
    open_hours VARCHAR(255) NOT NULL,
    created_at BIGINT       NOT NULL,
    updated_at BIGINT       NOT NULL,
    PRIMARY KEY (id) /*T![clustered_index] NONCLUSTERED */,
    KEY zan_shops_geohash (geohash),
    KEY zan_shops_type (type, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin /*T! SHARD_ROW_ID_BITS = 4 */;

CREATE TABLE IF NOT EXISTS zan_shop_words (
    word    VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    shop_id BIGINT      NOT NULL,
    PRIMARY KEY (word, shop_id) /*T![clustered_index] CLUSTERED */,
    KEY zan_shop_words_shop (shop_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS zan_vouchers (
    id         BIGINT       NOT NULL,
    shop_id    BIGINT       NOT NULL,
    title      VARCHAR(255) NOT NULL,
    stock      BIGINT       NOT NULL,
    remaining  BIGINT       NOT NULL,
    begin_at   BIGINT       NOT NULL,
    end_at     BIGINT       NOT NULL,
    created_at BIGINT       NOT NULL,
    PRIMARY KEY (id) /*T![clustered_index] NONCLUSTERED */,
    KEY zan_vouchers_shop (shop_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS zan_orders (
    id         BIGINT      NOT NULL,
    voucher_id BIGINT      NOT NULL,
    user_id    BIGINT      NOT NULL,
    status     VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_at BIGINT      NOT NULL,
    PRIMARY KEY (id) /*T![clustered_index] NONCLUSTERED */,
    UNIQUE KEY zan_orders_one_per_user (voucher_id, user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin /*T! SHARD_ROW_ID_BITS = 4 */;

-- +goose Down
DROP TABLE IF EXISTS zan_orders;
DROP TABLE IF EXISTS zan_vouchers;
DROP TABLE IF EXISTS zan_shop_words;
DROP TABLE IF EXISTS zan_shops;
