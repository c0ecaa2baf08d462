//! The service's schema on a real PostgreSQL cluster: every migration applies once, two
//! processes migrating at the same moment apply each once between them, a database from a
//! newer Kiln is refused, and the tables keep the rules the SQLite schema keeps.

use kiln_app::db::pg_migrations::migrate;
use kiln_postgres::{Client, Config};
use kiln_test_support::postgres::PostgresServer;
use kiln_test_support::rt;

async fn client(server: &PostgresServer) -> Client {
    Client::connect(Config::from_url(&server.url()).unwrap()).await.unwrap()
}

#[test]
fn migrations_apply_once_even_when_two_processes_start_together() {
    let server = PostgresServer::start();
    rt().block_on(async {
        let (mut a, mut b) = (client(&server).await, client(&server).await);
        let (first, second) = kiln_runtime::join!(migrate(&mut a), migrate(&mut b));
        let (first, second) = (first.unwrap(), second.unwrap());
        let mut all = [first.clone(), second.clone()].concat();
        all.sort_unstable();
        assert_eq!(all, [1, 2, 3, 4, 5, 6, 7], "each version once: {first:?} {second:?}");
        assert!(migrate(&mut a).await.unwrap().is_empty(), "idempotent");
        a.execute("INSERT INTO schema_migrations VALUES (99, 'future', 0)", &[]).await.unwrap();
        let e = migrate(&mut a).await.unwrap_err();
        assert!(e.to_string().contains("schema version 99"), "{e}");
    });
}

#[test]
fn the_tables_keep_their_rules() {
    let server = PostgresServer::start();
    rt().block_on(async {
        let mut db = client(&server).await;
        migrate(&mut db).await.unwrap();
        let user = "INSERT INTO users (email, password_hash, display_name, created_at) VALUES ($1, 'h', 'n', 0) RETURNING id";
        let first: i64 = db.query_one(user, &[&"ada@example.com"]).await.unwrap().get(0);
        let e = db.query_one(user, &[&"ADA@example.com"]).await.unwrap_err();
        assert!(e.is_unique_violation(), "emails are unique whatever their case: {e}");
        db.execute("DELETE FROM users WHERE id = $1", &[&first]).await.unwrap();
        let next: i64 = db.query_one(user, &[&"grace@example.com"]).await.unwrap().get(0);
        assert!(next > first, "a deleted user's id is not handed out again");
        let book = "INSERT INTO books (title, author, year, copies, available, created_at) VALUES ('T', 'A', 2000, $1, $2, 0)";
        assert_eq!(db.execute(book, &[&2i64, &2i64]).await.unwrap(), 1);
        let e = db.execute(book, &[&1i64, &2i64]).await.unwrap_err();
        assert_eq!(e.code(), Some("23514"), "available never exceeds copies: {e}");
        let e = db
            .execute("INSERT INTO loans (user_id, book_id, borrowed_at) VALUES (999, 1, 0)", &[])
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("23503"), "loans reference users: {e}");
    });
}
