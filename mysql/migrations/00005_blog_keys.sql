-- A client key per submit makes creating a post idempotent: one author's
-- key is one blog, however often the submit is sent (a double click, a
-- retry after a lost answer). NULL for blogs made without a key; NULLs
-- never clash in a unique key. Keys are ASCII and compared bytewise.

-- +goose Up
ALTER TABLE zan_blogs ADD COLUMN client_key VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL;
ALTER TABLE zan_blogs ADD UNIQUE KEY zan_blogs_client_key (author_id, client_key);

-- +goose Down
ALTER TABLE zan_blogs DROP KEY zan_blogs_client_key;
ALTER TABLE zan_blogs DROP COLUMN client_key;
