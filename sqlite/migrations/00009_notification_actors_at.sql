-- The index of notification_actors by time served only the prune, and
-- every notice paid for it: each (target, actor) row's time changes with
-- each of its likes and unlikes, so each notice moved its entry. The prune
-- now walks the table by its primary key in short steps instead.
--
-- The index by item serves one read, an item's latest likers (liked = 1):
-- made partial, an unlike takes the row's entry out and adds none.

-- +goose Up
DROP INDEX notification_actors_at;
DROP INDEX notification_actors_item;
CREATE INDEX notification_actors_item ON notification_actors (notification_id, at) WHERE liked = 1;

-- +goose Down
DROP INDEX notification_actors_item;
CREATE INDEX notification_actors_item ON notification_actors (notification_id, liked, at);
CREATE INDEX notification_actors_at ON notification_actors (at);
