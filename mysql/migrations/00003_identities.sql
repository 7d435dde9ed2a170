-- Sign-in through OpenID providers and host platforms. Users who sign up
-- that way have no phone: zan_users.phone becomes nullable (the unique key
-- holds for the phones there are; NULLs never clash). Relaxing NOT NULL is
-- a change of metadata only, in TiDB too. Both statements can run again.
--
-- zan_identities is written once per new identity and read by its primary
-- key: CLUSTERED on (issuer, subject), whose subjects spread by themselves.
-- Subjects are case-sensitive (utf8mb4_bin); OpenID Connect bounds both
-- columns to 255 characters.

-- +goose Up
ALTER TABLE zan_users MODIFY phone VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL;

CREATE TABLE IF NOT EXISTS zan_identities (
    issuer     VARCHAR(255) NOT NULL,
    subject    VARCHAR(255) NOT NULL,
    user_id    BIGINT       NOT NULL,
    created_at BIGINT       NOT NULL,
    PRIMARY KEY (issuer, subject) /*T![clustered_index] CLUSTERED */,
    UNIQUE KEY zan_identities_user (user_id, issuer)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS zan_identities;
DELETE FROM zan_users WHERE phone IS NULL;
ALTER TABLE zan_users MODIFY phone VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;
