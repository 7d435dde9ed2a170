-- The index of zan_notification_actors by time served only the prune, and
-- every notice paid for it: each (target, actor) row's time changes with
-- each of its likes and unlikes, so each notice moved its entry. The prune
-- now walks the table by its primary key in short steps instead.

-- +goose Up
ALTER TABLE zan_notification_actors DROP KEY zan_notification_actors_at;

-- +goose Down
ALTER TABLE zan_notification_actors ADD KEY zan_notification_actors_at (at);
