//! Route lookup as the route table grows: Kiln's router against axum's (matchit, a radix
//! tree) on the same table of 5, 50 and 200 routes, `/r{i}/items/{id}`, each request for the
//! route added last and one for a path no route has (a 404). The whole dispatch is timed —
//! match, path parameters, the handler's future and its response — on the calling thread, no
//! runtime and no socket, so the lookup is what differs.
//!
//! ```text
//! cargo bench --bench router                         # criterion's report, per group
//! KILN_BENCH_PAIRED=15 cargo bench --bench router    # interleaved, ratio with its IQR
//! ```

// `criterion_group!` generates a public function without docs.
#![allow(missing_docs)]

#[path = "support/paired.rs"]
mod paired;

use criterion::{criterion_group, criterion_main, Criterion};
use futures::executor::block_on;
use kiln::http::http::{Request, StatusCode};
use std::hint::black_box;

async fn found() -> &'static str {
    "found"
}

fn kiln_router(routes: usize) -> kiln::http::Router {
    (0..routes).fold(kiln::http::Router::new(), |router, i| {
        router.route(&format!("/r{i}/items/{{id}}"), kiln::http::router::get(found))
    })
}

fn axum_router(routes: usize) -> axum::Router {
    (0..routes).fold(axum::Router::new(), |router, i| {
        router.route(&format!("/r{i}/items/{{id}}"), axum::routing::get(found))
    })
}

fn kiln_call(router: &kiln::http::Router, path: &str) -> StatusCode {
    let request = Request::get(path).body(kiln::http::Body::empty()).unwrap();
    block_on(kiln::http::Service::call(router, request)).status()
}

fn axum_call(router: &mut axum::Router, path: &str) -> StatusCode {
    let request = Request::get(path).body(axum::body::Body::empty()).unwrap();
    block_on(tower_service::Service::call(router, request)).unwrap().status()
}

fn bench(c: &mut Criterion) {
    for routes in [5, 50, 200] {
        let kiln = kiln_router(routes);
        let mut axum = axum_router(routes);
        for (case, path, status) in [
            ("last", format!("/r{}/items/42", routes - 1), StatusCode::OK),
            ("missing", "/nowhere/items/42".to_owned(), StatusCode::NOT_FOUND),
        ] {
            assert_eq!(kiln_call(&kiln, &path), status, "kiln, {path}");
            assert_eq!(axum_call(&mut axum, &path), status, "axum, {path}");
            let mut on_kiln = |b: &mut paired::Bencher| b.iter(|| kiln_call(&kiln, black_box(&path)));
            let mut on_axum = |b: &mut paired::Bencher| b.iter(|| axum_call(&mut axum, black_box(&path)));
            paired::compare(
                c,
                "router",
                &format!("router_{case}_of_{routes}"),
                &mut [("kiln", &mut on_kiln), ("axum", &mut on_axum)],
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
