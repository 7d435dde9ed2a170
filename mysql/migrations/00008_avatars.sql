-- A user's avatar is a choice among pictures the clients draw from the
-- user's id: a small number (0 the default), never an uploaded image.
-- A user's orders are listed newest first ("My vouchers"): an index on
-- (user_id, id) serves that page without a scan.

-- +goose Up
ALTER TABLE zan_users ADD COLUMN avatar TINYINT UNSIGNED NOT NULL DEFAULT 0;
ALTER TABLE zan_orders ADD KEY zan_orders_user (user_id, id);

-- +goose Down
ALTER TABLE zan_orders DROP KEY zan_orders_user;
ALTER TABLE zan_users DROP COLUMN avatar;
