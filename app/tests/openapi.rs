//! `/openapi.json` matches the routes: every routed path and method is documented, and every
//! documented path and method is routed. The document is served as JSON.

use kiln_http::http::Method;
use std::collections::BTreeSet;

mod common;
use common::{rt, start};

#[test]
fn the_document_and_the_routes_agree() {
    let doc = kiln_app::openapi::document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (key, _) in item.as_object().unwrap() {
            if key != "parameters" {
                documented.insert((path.clone(), key.to_ascii_uppercase()));
            }
        }
    }
    let mut routed = BTreeSet::new();
    for (path, methods) in kiln_app::routes::route_table() {
        assert!(!methods.is_empty(), "{path} answers every method: document it explicitly");
        for m in methods {
            routed.insert((path.clone(), m.as_str().to_owned()));
        }
    }
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "undocumented: {undocumented:?}; documented but not routed: {unrouted:?}"
    );
}

#[test]
fn it_is_served() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        let (status, _, doc) = s.call(Method::GET, "/openapi.json", None, None).await;
        assert!(status.is_success());
        assert_eq!(doc["info"]["title"], "Kiln");
        s.stop().await;
    });
}
