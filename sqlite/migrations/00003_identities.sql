-- Users who sign up through an OpenID provider or a host platform have no
-- phone: users.phone becomes nullable (UNIQUE still holds for the phones
-- there are; NULLs never clash). SQLite cannot relax a column in place, so
-- the table is rebuilt, in the migration's transaction.

-- +goose Up
CREATE TABLE users_new (
    id         INTEGER PRIMARY KEY,
    phone      TEXT    UNIQUE,
    nickname   TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO users_new (id, phone, nickname, created_at) SELECT id, phone, nickname, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

-- (issuer, subject) is one user; a user has one identity per issuer.
CREATE TABLE identities (
    issuer     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    user_id    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
) WITHOUT ROWID;

CREATE UNIQUE INDEX identities_user ON identities (user_id, issuer);

-- +goose Down
DROP TABLE identities;
CREATE TABLE users_old (
    id         INTEGER PRIMARY KEY,
    phone      TEXT    NOT NULL UNIQUE,
    nickname   TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO users_old (id, phone, nickname, created_at)
    SELECT id, phone, nickname, created_at FROM users WHERE phone IS NOT NULL;
DROP TABLE users;
ALTER TABLE users_old RENAME TO users;
