-- Who waits for a book with no copy free, in order of joining (app/src/library/waitlist.rs).
CREATE TABLE waitlist (
    book_id   BIGINT NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (book_id, user_id)
);
CREATE INDEX waitlist_order ON waitlist (book_id, joined_at, user_id);
