-- Who waits for a book with no copy free, in order of joining (app/src/library/waitlist.rs).
-- A return hands the copy's news to the first in line through a job.
CREATE TABLE waitlist (
    book_id   INTEGER NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (book_id, user_id)
);
CREATE INDEX waitlist_order ON waitlist (book_id, joined_at, user_id);
