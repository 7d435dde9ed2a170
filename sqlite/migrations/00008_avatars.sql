-- A user's avatar is a choice among pictures the clients draw from the
-- user's id: a small number (0 the default), never an uploaded image.
-- A user's orders are listed newest first ("My vouchers"): an index on
-- (user_id, id) serves that page without a scan.

-- +goose Up
ALTER TABLE users ADD COLUMN avatar INTEGER NOT NULL DEFAULT 0;
CREATE INDEX orders_user ON orders (user_id, id);

-- +goose Down
DROP INDEX orders_user;
ALTER TABLE users DROP COLUMN avatar;
