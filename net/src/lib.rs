//! Kiln's networking layer: TCP and UDP on Kiln's reactor. Not built yet: see the project's open issues; this crate exists so the workspace has its final shape.

#![forbid(unsafe_code)]
