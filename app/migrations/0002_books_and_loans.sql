-- The book library and loans (week 4: week 3's library, now persistent).
CREATE TABLE books (
    id         INTEGER PRIMARY KEY,
    title      TEXT    NOT NULL,
    author     TEXT    NOT NULL,
    year       INTEGER NOT NULL,
    isbn       TEXT    UNIQUE,
    copies     INTEGER NOT NULL CHECK (copies >= 0),
    available  INTEGER NOT NULL CHECK (available >= 0 AND available <= copies),
    created_at INTEGER NOT NULL
);
CREATE INDEX books_author ON books(author COLLATE NOCASE);
CREATE INDEX books_year ON books(year);

CREATE TABLE loans (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    book_id     INTEGER NOT NULL REFERENCES books(id) ON DELETE CASCADE,
    borrowed_at INTEGER NOT NULL,
    returned_at INTEGER
);
CREATE INDEX loans_open_by_user ON loans(user_id) WHERE returned_at IS NULL;
CREATE INDEX loans_by_book ON loans(book_id);
