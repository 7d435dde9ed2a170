-- Photos are uploaded before the post that shows them: a photo row is its
-- owner's until a post of theirs names it. blog_photos orders a post's
-- photos; deleting the post deletes its rows, the blobs stay for a later
-- sweep (a photo may be shown again by an edit).

-- +goose Up
CREATE TABLE photos (
    id           INTEGER PRIMARY KEY,
    owner_id     INTEGER NOT NULL,
    content_type TEXT    NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE TABLE blog_photos (
    blog_id  INTEGER NOT NULL,
    pos      INTEGER NOT NULL,
    photo_id INTEGER NOT NULL,
    PRIMARY KEY (blog_id, pos)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE blog_photos;
DROP TABLE photos;
