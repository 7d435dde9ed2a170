-- +goose Up
CREATE TABLE shops (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    x          REAL    NOT NULL,
    y          REAL    NOT NULL,
    geohash    TEXT    NOT NULL,
    score      REAL    NOT NULL,
    avg_price  INTEGER NOT NULL,
    open_hours TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Nearby queries are range scans over geohash prefixes.
CREATE INDEX shops_geohash ON shops (geohash);
CREATE INDEX shops_type ON shops (type, id);

-- The search words of each shop (name and address, split by the store's
-- own tokenizer so both stores index the same words), rowid = shop id.
-- remove_diacritics 0: the words arrive as the Go side made them.
CREATE VIRTUAL TABLE shops_fts USING fts5(words, tokenize = 'unicode61 remove_diacritics 0');

CREATE TABLE vouchers (
    id         INTEGER PRIMARY KEY,
    shop_id    INTEGER NOT NULL,
    title      TEXT    NOT NULL,
    stock      INTEGER NOT NULL,
    remaining  INTEGER NOT NULL CHECK (remaining >= 0),
    begin_at   INTEGER NOT NULL,
    end_at     INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX vouchers_shop ON vouchers (shop_id, id);

-- One order per user and voucher: the last guard of the flash sale.
CREATE TABLE orders (
    id         INTEGER PRIMARY KEY,
    voucher_id INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (voucher_id, user_id)
);

-- +goose Down
DROP TABLE orders;
DROP TABLE vouchers;
DROP TABLE shops_fts;
DROP TABLE shops;
