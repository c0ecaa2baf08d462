//! Kiln's HTTP/1.1 layer: server, client, router and middleware. Not built yet: see the project's open issues; this crate exists so the workspace has its final shape.

#![forbid(unsafe_code)]
