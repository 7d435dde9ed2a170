-- Photos are uploaded before the post that shows them: a photo row is its
-- owner's until a post of theirs names it. zan_blog_photos orders a post's
-- photos, clustered by blog so a page of posts reads its photos in one
-- range per post; deleting the post deletes its rows, the blobs stay for a
-- later sweep (a photo may be shown again by an edit).

-- +goose Up
CREATE TABLE IF NOT EXISTS zan_photos (
    id           BIGINT      NOT NULL,
    owner_id     BIGINT      NOT NULL,
    content_type VARCHAR(32) CHARACTER SET ascii NOT NULL,
    width        INT         NOT NULL,
    height       INT         NOT NULL,
    size         BIGINT      NOT NULL,
    created_at   BIGINT      NOT NULL,
    PRIMARY KEY (id) /*T![clustered_index] NONCLUSTERED */
) ENGINE = InnoDB /*T! SHARD_ROW_ID_BITS = 4 */;

CREATE TABLE IF NOT EXISTS zan_blog_photos (
    blog_id  BIGINT NOT NULL,
    pos      INT    NOT NULL,
    photo_id BIGINT NOT NULL,
    PRIMARY KEY (blog_id, pos) /*T![clustered_index] CLUSTERED */
) ENGINE = InnoDB;

-- +goose Down
DROP TABLE IF EXISTS zan_blog_photos;
DROP TABLE IF EXISTS zan_photos;
