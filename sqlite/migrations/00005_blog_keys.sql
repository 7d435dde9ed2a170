-- A client key per submit makes creating a post idempotent: one author's
-- key is one blog, however often the submit is sent (a double click, a
-- retry after a lost answer). NULL for blogs made without a key; NULLs
-- never clash in a unique index.

-- +goose Up
ALTER TABLE blogs ADD COLUMN client_key TEXT;
CREATE UNIQUE INDEX blogs_client_key ON blogs (author_id, client_key);

-- +goose Down
DROP INDEX blogs_client_key;
ALTER TABLE blogs DROP COLUMN client_key;
