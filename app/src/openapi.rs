//! The OpenAPI 3.1 document served at `/openapi.json`: every route, its parameters, the real
//! constraints of its bodies, every status it can answer, and its security.
//!
//! Written by hand next to the routes, and held to them twice: `tests/openapi.rs` checks that
//! every routed path and method is documented and every documented one is routed, and
//! `scripts/api-fuzz` runs schemathesis, which generates requests from this document (valid
//! and invalid ones) and fails on any answer the document does not allow.
//!
//! Statuses every operation with a JSON body can answer come from the middleware and the
//! extractors: 400 (malformed JSON, query or path), 413 (body over 64 KiB), 415 (not
//! `application/json`), 422 (well-formed JSON of the wrong shape or with invalid fields),
//! and 503 (the 30 s handler timeout, or password hashing saturated).

use crate::auth::identity::{MAX_DISPLAY_NAME, MAX_EMAIL};
use crate::auth::password;
use crate::jobs::kinds::PUBLIC_KINDS;
use crate::jobs::JobState;
use crate::library::books::{MAX_LIMIT, MAX_OFFSET};
use crate::library::validate::{MAX_AUTHOR, MAX_COPIES, MAX_TITLE};
use crate::routes::jobs::{MAX_KEY, MAX_LIMIT as JOBS_MAX_LIMIT, MAX_PRIORITY, MAX_RUN_AT};
use crate::routes::me::MAX_BIO;
use crate::text::hidden_class;
use serde_json::{json, Map, Value};

const BEARER: &str = "bearer";

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema_ref(schema) } } })
}

fn ok(description: &str, schema: Option<&str>) -> Value {
    match schema {
        Some(s) => {
            json!({ "description": description, "content": { "application/json": { "schema": schema_ref(s) } } })
        }
        None => json!({ "description": description }),
    }
}

/// A problem+json answer with `status`, its usual meaning, and its headers (a secured
/// operation's 401 carries `WWW-Authenticate`; login's, about a password, does not).
fn problem(status: u16, secured: bool) -> (String, Value) {
    let description = match status {
        400 => "malformed request: JSON syntax, query string or path parameter",
        401 => "no bearer token, or one that is invalid, expired or of an ended session (login: wrong email or password; refresh: an invalid, expired, revoked or reused token)",
        403 => "not allowed",
        404 => "no such resource",
        409 => "conflicts with the current state",
        413 => "request body over 64 KiB",
        415 => "the body is not application/json",
        422 => "well-formed, but a field is missing, unknown or invalid (see `errors`)",
        429 => "too many requests or failed attempts; retry after `Retry-After` seconds",
        503 => "busy (password hashing saturated) or timed out; retry after `Retry-After` seconds",
        _ => "error",
    };
    let mut answer = json!({
        "description": description,
        "content": { "application/problem+json": { "schema": schema_ref("Problem") } }
    });
    let header = |name: &str, schema: Value, description: &str| json!({ name: { "description": description, "required": true, "schema": schema } });
    match status {
        401 if secured => {
            answer["headers"] = header(
                "WWW-Authenticate",
                json!({ "type": "string" }),
                "`Bearer`, with `error=\"invalid_token\"` for a bad token",
            )
        }
        429 => {
            answer["headers"] =
                header("Retry-After", json!({ "type": "integer", "minimum": 0 }), "seconds to wait")
        }
        _ => {}
    }
    (status.to_string(), answer)
}

/// An operation: summary, security, body schema, success answer, and error statuses.
fn op(summary: &str, secured: bool, body: Option<&str>, success: (&str, Value), errors: &[u16]) -> Value {
    let mut responses = Map::new();
    responses.insert(success.0.to_owned(), success.1);
    for &status in errors {
        let (code, answer) = problem(status, secured);
        responses.insert(code, answer);
    }
    let mut o = json!({ "summary": summary, "responses": responses });
    if secured {
        o["security"] = json!([{ BEARER: [] }]);
    }
    if let Some(schema) = body {
        o["requestBody"] = json_body(schema);
    }
    o
}

/// The statuses of an operation that reads a JSON body, besides its own.
const BODY: [u16; 4] = [400, 413, 415, 422];

fn with(errors: &[u16], extra: &[u16]) -> Vec<u16> {
    let mut all: Vec<u16> = errors.iter().chain(extra).copied().collect();
    all.sort_unstable();
    all.dedup();
    all
}

fn id_param() -> Value {
    json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer", "format": "int64" } }])
}

fn text(min: usize, max: usize) -> Value {
    // Not only spaces, and none of the hidden characters.
    let hidden = hidden_class();
    json!({ "type": "string", "minLength": min, "maxLength": max, "pattern": format!("^[^{hidden}]*[^\\s{hidden}][^{hidden}]*$") })
}

fn password_schema() -> Value {
    json!({ "type": "string", "minLength": password::MIN_LEN, "maxLength": password::MAX_LEN })
}

/// `POST /books/{id}/waitlist`: 201 on joining, 200 if already there.
fn waitlist_op() -> Value {
    let mut o = op(
        "Wait for a book with no copy free (a return notifies the first in line)",
        true,
        None,
        ("201", ok("your place", Some("Place"))),
        &[400, 401, 404, 409, 503],
    );
    o["responses"]["200"] = ok("already waiting: your place", Some("Place"));
    o
}

/// `POST /jobs`: 201 for a new job, 200 for the job an idempotency key names already.
fn enqueue_op() -> Value {
    let mut o = op(
        "Enqueue a job",
        true,
        Some("NewJob"),
        ("201", ok("enqueued", Some("Job"))),
        &with(&BODY, &[401, 503]),
    );
    o["responses"]["200"] = ok("the job this idempotency key already names", Some("Job"));
    o
}

/// The document.
pub fn document() -> Value {
    let email = json!({ "type": "string", "format": "email", "maxLength": MAX_EMAIL });
    // `format: isbn`: a check digit JSON Schema cannot express (scripts/api-fuzz.d/hooks.py).
    let isbn = json!({ "type": ["string", "null"], "format": "isbn",
                       "description": "ISBN-10 or ISBN-13 with a valid check digit, hyphens and spaces allowed; stored as ISBN-13" });
    let year = json!({ "type": "integer", "minimum": -3000, "maximum": crate::clock::this_year() });
    let copies = json!({ "type": "integer", "minimum": 0, "maximum": MAX_COPIES });
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Kiln", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Auth, the book library and loans. Errors are RFC 9457 problem documents." },
        "paths": {
            "/health": { "get": op("Liveness (as /healthz)", false, None, ("200", json!({ "description": "ok", "content": { "text/plain": { "schema": { "type": "string" } } } })), &[]) },
            "/metrics": { "get": op("Prometheus metrics (text exposition format 0.0.4)", false, None, ("200", json!({ "description": "the metrics", "content": { "text/plain": { "schema": { "type": "string" } } } })), &[]) },
            "/healthz": { "get": op("Liveness: the process answers", false, None, ("200", json!({ "description": "ok", "content": { "text/plain": { "schema": { "type": "string" } } } })), &[]) },
            "/readyz": { "get": {
                "summary": "Readiness: the database (at this binary's schema version) and Redis answer, and the process is not shutting down",
                "responses": {
                    "200": ok("ready", Some("Readiness")),
                    "503": ok("not ready: each check says why", Some("Readiness")) } } },
            "/openapi.json": { "get": op("This document", false, None, ("200", json!({ "description": "OpenAPI 3.1", "content": { "application/json": { "schema": { "type": "object" } } } })), &[]) },
            "/auth/signup": { "post": op("Create an account (the first one is an admin)", false, Some("Signup"),
                ("201", ok("created", Some("NewUser"))), &with(&BODY, &[409, 429, 503])) },
            "/auth/login": { "post": op("Start a session", false, Some("Login"),
                ("200", ok("tokens", Some("TokenPair"))), &with(&BODY, &[401, 429, 503])) },
            "/auth/refresh": { "post": op("Rotate a refresh token (a retry within the grace window gets the same pair)", false, Some("RefreshToken"),
                ("200", ok("tokens", Some("TokenPair"))), &with(&BODY, &[401, 429, 503])) },
            "/auth/logout": { "post": op("End the session of a refresh token (an unknown token is not an error, RFC 7009)", false, Some("RefreshToken"),
                ("204", ok("done", None)), &with(&BODY, &[429, 503])) },
            "/me": {
                "get": op("My profile", true, None, ("200", ok("profile", Some("Profile"))), &[401, 503]),
                "patch": op("Change display name or bio", true, Some("ProfilePatch"), ("200", ok("profile", Some("Profile"))), &with(&BODY, &[401, 503])),
                "delete": op("Delete my account (needs the password; ends every session)", true, Some("Deletion"),
                    ("204", ok("deleted", None)), &with(&BODY, &[401, 403, 409, 429, 503])) },
            "/me/password": { "put": op("Change my password (ends every session)", true, Some("PasswordChange"),
                ("204", ok("changed", None)), &with(&BODY, &[401, 403, 429, 503])) },
            "/me/loans": { "get": op("My loans, open first", true, None, ("200", ok("my loans", Some("Loans"))), &[401, 503]) },
            "/books": {
                "get": { "summary": "List books", "parameters": [
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20 } },
                        { "name": "offset", "in": "query", "description": "not with `cursor` (else 422)", "schema": { "type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0 } },
                        { "name": "cursor", "in": "query", "description": "a previous page's `next_cursor`, with the same `sort` (else 422); empty is none", "schema": { "type": "string" } },
                        { "name": "author", "in": "query", "schema": { "type": "string" } },
                        { "name": "year_from", "in": "query", "description": "after `year_to`: an empty range, so an empty page", "schema": { "type": "integer", "format": "int32" } },
                        { "name": "year_to", "in": "query", "schema": { "type": "integer", "format": "int32" } },
                        { "name": "q", "in": "query", "schema": { "type": "string" } },
                        { "name": "sort", "in": "query", "schema": { "enum": ["id", "-id", "title", "-title", "author", "-author", "year", "-year"] } } ],
                    "responses": op("", false, None, ("200", ok("a page", Some("Page"))), &[400, 422, 503])["responses"] },
                "post": op("Add a book (admin)", true, Some("BookInput"), ("201", ok("created", Some("Book"))), &with(&BODY, &[401, 403, 409, 503])) },
            "/books/{id}": {
                "parameters": id_param(),
                "get": op("One book", false, None, ("200", ok("the book", Some("Book"))), &[400, 404, 503]),
                "put": op("Replace a book (admin)", true, Some("BookInput"), ("200", ok("the book", Some("Book"))), &with(&BODY, &[401, 403, 404, 409, 503])),
                "patch": op("Change some fields (admin)", true, Some("BookPatch"), ("200", ok("the book", Some("Book"))), &with(&BODY, &[401, 403, 404, 409, 503])),
                "delete": op("Remove a book (admin)", true, None, ("204", ok("removed", None)), &[400, 401, 403, 404, 409, 503]) },
            "/books/{id}/loans": { "parameters": id_param(),
                "post": op("Borrow a copy", true, None, ("201", ok("the loan", Some("Loan"))), &[400, 401, 404, 409, 503]) },
            "/books/{id}/waitlist": { "parameters": id_param(),
                "post": waitlist_op(),
                "delete": op("Leave the book's wait list (also when not on it)", true, None, ("204", ok("off the list", None)), &[400, 401, 404, 503]) },
            "/loans/{id}/return": { "parameters": id_param(),
                "post": op("Return a loan", true, None, ("200", ok("the loan", Some("Loan"))), &[400, 401, 404, 409, 503]) },
            "/users/{id}/sessions": { "parameters": id_param(),
                "delete": op("End every session of a user (admin)", true, None, ("200", ok("how many ended", Some("Revocation"))), &[400, 401, 403, 404, 503]) },
            "/dashboard": { "get": op("The live dashboard (HTML; polls /stats)", false, None, ("200", json!({ "description": "the page", "content": { "text/html": { "schema": { "type": "string" } } } })), &[]) },
            "/stats": { "get": op("Requests, jobs, caches and the runtime, now (what the dashboard shows)", false, None, ("200", ok("the numbers", Some("Stats"))), &[503]) },
            "/jobs": {
                "post": enqueue_op(),
                "get": { "summary": "Jobs, newest first (a member's own; an admin's all)", "security": [{ BEARER: [] }], "parameters": [
                        { "name": "state", "in": "query", "schema": { "enum": JobState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>() } },
                        { "name": "kind", "in": "query", "schema": { "type": "string" } },
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": JOBS_MAX_LIMIT, "default": 20 } },
                        { "name": "cursor", "in": "query", "description": "a previous page's `next_cursor`; empty is none",
                          "schema": { "type": "string", "pattern": "^([1-9][0-9]{0,17})?$" } } ],
                    "responses": op("", true, None, ("200", ok("a page", Some("JobPage"))), &[400, 401, 422, 503])["responses"] } },
            "/jobs/{id}": { "parameters": id_param(),
                "get": op("One job", true, None, ("200", ok("the job", Some("Job"))), &[400, 401, 404, 503]) },
            "/jobs/{id}/cancel": { "parameters": id_param(),
                "post": op("Cancel a job that has not started; it stays, cancelled (admin)", true, None, ("200", ok("the cancelled job", Some("Job"))), &[400, 401, 403, 404, 409, 503]) },
            "/jobs/{id}/retry": { "parameters": id_param(),
                "post": op("Run a dead or cancelled job again, with fresh attempts (admin)", true, None, ("200", ok("the job", Some("Job"))), &[400, 401, 403, 404, 409, 503]) }
        },
        "components": {
            "securitySchemes": { BEARER: { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "schemas": {
                "NewJob": { "type": "object", "required": ["kind"], "additionalProperties": false, "properties": {
                    "kind": { "enum": PUBLIC_KINDS },
                    "payload": { "type": "object", "description": "the kind's input; `demo`: `ms` (0 to 60000) to wait, `fail_attempts` to fail first" },
                    "run_at": { "type": "integer", "minimum": 0, "maximum": MAX_RUN_AT, "description": "not before (Unix ms)" },
                    "priority": { "type": "integer", "minimum": -MAX_PRIORITY, "maximum": MAX_PRIORITY },
                    "idempotency_key": { "type": "string", "minLength": 1, "maxLength": MAX_KEY, "pattern": "^[!-~]+$",
                                         "description": "the same key from the same user returns the first job (200) instead of adding one" } } },
                "Job": { "type": "object", "required": ["id", "kind", "payload", "state", "priority", "run_at", "attempt", "max_attempts",
                        "timeout_ms", "idempotency_key", "created_by", "last_error", "errors", "created_at", "started_at", "finished_at", "lease_owner", "traceparent"], "properties": {
                    "id": { "type": "integer" }, "kind": { "type": "string" }, "payload": {},
                    "state": { "enum": JobState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>() },
                    "priority": { "type": "integer" }, "run_at": { "type": "integer" }, "attempt": { "type": "integer" },
                    "max_attempts": { "type": "integer" }, "timeout_ms": { "type": "integer" },
                    "idempotency_key": { "type": ["string", "null"] }, "created_by": { "type": ["integer", "null"] },
                    "last_error": { "type": ["string", "null"] }, "errors": { "type": "array" }, "created_at": { "type": "integer" },
                    "started_at": { "type": ["integer", "null"] }, "finished_at": { "type": ["integer", "null"] },
                    "lease_owner": { "type": ["string", "null"], "description": "the worker running it: host-pid-random" },
                    "traceparent": { "type": ["string", "null"], "description": "the W3C trace context of the request that enqueued it: its span is the job's parent" } } },
                "Readiness": { "type": "object", "required": ["ready", "database", "redis", "draining"], "properties": {
                    "ready": { "type": "boolean" }, "draining": { "type": "boolean" },
                    "database": schema_ref("Check"), "redis": schema_ref("Check") } },
                "Check": { "type": "object", "required": ["ok", "detail"], "properties": {
                    "ok": { "type": "boolean" }, "detail": { "type": "string" } } },
                "Stats": { "type": "object", "required": ["http", "jobs", "cache", "runtime", "tasks"], "properties": {
                    "http": { "type": "object" }, "jobs": { "type": "object" }, "cache": { "type": "object" },
                    "runtime": { "type": "object" }, "tasks": { "type": "array" } } },
                "Place": { "type": "object", "required": ["book_id", "position"], "properties": {
                    "book_id": { "type": "integer" }, "position": { "type": "integer", "minimum": 1 } } },
                "JobPage": { "type": "object", "required": ["items", "limit", "next", "next_cursor"], "properties": {
                    "items": { "type": "array", "items": schema_ref("Job") }, "limit": { "type": "integer" },
                    "next": { "type": ["string", "null"] }, "next_cursor": { "type": ["string", "null"] } } },
                "Problem": { "type": "object", "required": ["type", "title", "status"], "properties": {
                    "type": { "type": "string" }, "title": { "type": "string" }, "status": { "type": "integer" }, "detail": { "type": "string" },
                    "errors": { "type": "array", "items": { "type": "object", "required": ["field", "message"],
                        "properties": { "field": { "type": "string" }, "message": { "type": "string" } } } } } },
                "Signup": { "type": "object", "required": ["email", "password", "display_name"], "additionalProperties": false, "properties": {
                    "email": email, "password": password_schema(), "display_name": text(1, MAX_DISPLAY_NAME) } },
                "NewUser": { "type": "object", "required": ["id", "email", "display_name"], "properties": {
                    "id": { "type": "integer" }, "email": { "type": "string" }, "display_name": { "type": "string" } } },
                "Login": { "type": "object", "required": ["email", "password"], "additionalProperties": false, "properties": {
                    "email": { "type": "string" }, "password": { "type": "string", "maxLength": password::MAX_LEN } } },
                "RefreshToken": { "type": "object", "required": ["refresh_token"], "additionalProperties": false, "properties": {
                    "refresh_token": { "type": "string", "pattern": "\\S" } } },
                "TokenPair": { "type": "object", "required": ["access_token", "refresh_token", "token_type", "expires_in"], "properties": {
                    "access_token": { "type": "string" }, "refresh_token": { "type": "string" }, "token_type": { "const": "Bearer" }, "expires_in": { "type": "integer" } } },
                "Profile": { "type": "object", "required": ["id", "email", "display_name", "bio", "role", "created_at"], "properties": {
                    "id": { "type": "integer" }, "email": { "type": "string" }, "display_name": { "type": "string" }, "bio": { "type": "string" },
                    "role": { "enum": ["member", "admin"] }, "created_at": { "type": "integer" } } },
                "ProfilePatch": { "type": "object", "additionalProperties": false, "properties": {
                    "display_name": text(1, MAX_DISPLAY_NAME), "bio": { "type": "string", "maxLength": MAX_BIO } } },
                "PasswordChange": { "type": "object", "required": ["current_password", "new_password"], "additionalProperties": false, "properties": {
                    "current_password": { "type": "string", "maxLength": password::MAX_LEN }, "new_password": password_schema() } },
                "Deletion": { "type": "object", "required": ["password"], "additionalProperties": false, "properties": {
                    "password": { "type": "string", "maxLength": password::MAX_LEN } } },
                "Book": { "type": "object", "required": ["id", "title", "author", "year", "copies", "available"], "properties": {
                    "id": { "type": "integer" }, "title": { "type": "string" }, "author": { "type": "string" }, "year": { "type": "integer" },
                    "isbn": { "type": "string" }, "copies": { "type": "integer" }, "available": { "type": "integer" } } },
                "BookInput": { "type": "object", "required": ["title", "author", "year"], "additionalProperties": false, "properties": {
                    "title": text(1, MAX_TITLE), "author": text(1, MAX_AUTHOR), "year": year, "isbn": isbn, "copies": copies } },
                "BookPatch": { "type": "object", "additionalProperties": false, "properties": {
                    "title": text(1, MAX_TITLE), "author": text(1, MAX_AUTHOR), "year": year, "isbn": isbn, "copies": copies } },
                "Page": { "type": "object", "required": ["items", "total", "limit", "offset", "next", "next_cursor"], "properties": {
                    "items": { "type": "array", "items": schema_ref("Book") }, "total": { "type": "integer" },
                    "limit": { "type": "integer" }, "offset": { "type": "integer" }, "next": { "type": ["string", "null"] },
                    "next_cursor": { "type": ["string", "null"] } } },
                "Loan": { "type": "object", "required": ["id", "book_id", "borrowed_at", "returned_at"], "properties": {
                    "id": { "type": "integer" }, "book_id": { "type": "integer" }, "borrowed_at": { "type": "integer" }, "returned_at": { "type": ["integer", "null"] } } },
                "Loans": { "type": "object", "required": ["items"], "properties": { "items": { "type": "array", "items": schema_ref("Loan") } } },
                "Revocation": { "type": "object", "required": ["user_id", "sessions_ended"], "properties": {
                    "user_id": { "type": "integer" }, "sessions_ended": { "type": "integer" } } }
            }
        }
    })
}
