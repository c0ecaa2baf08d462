//! Kiln's service: auth, the book library, loans, jobs and the dashboard. Not built yet: see the project's open issues; this crate exists so the workspace has its final shape.

#![forbid(unsafe_code)]
