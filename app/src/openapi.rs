//! The OpenAPI 3.1 document served at `/openapi.json`: every route, its parameters, bodies
//! and answers. Written by hand next to the routes; `tests/openapi.rs` checks that every
//! routed path and method is documented and every documented one is routed.

use serde_json::{json, Value};

fn problem(description: &str) -> Value {
    json!({ "description": description, "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } })
}

fn body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn ok(description: &str, schema: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn id_param() -> Value {
    json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }])
}

const BEARER: &str = "bearer";

/// The document.
pub fn document() -> Value {
    let secured = json!([{ BEARER: [] }]);
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Kiln", "version": env!("CARGO_PKG_VERSION"), "description": "Auth, the book library and loans." },
        "paths": {
            "/health": { "get": { "summary": "Liveness", "responses": { "200": { "description": "ok" } } } },
            "/openapi.json": { "get": { "summary": "This document", "responses": { "200": { "description": "OpenAPI 3.1" } } } },
            "/auth/signup": { "post": {
                "summary": "Create an account (the first one is an admin)", "requestBody": body("Signup"),
                "responses": { "201": { "description": "created" }, "409": problem("email already registered"), "422": problem("invalid fields"), "429": problem("rate limited") } } },
            "/auth/login": { "post": {
                "summary": "Start a session", "requestBody": body("Login"),
                "responses": { "200": ok("tokens", "TokenPair"), "401": problem("invalid email or password"), "429": problem("locked or rate limited") } } },
            "/auth/refresh": { "post": {
                "summary": "Rotate a refresh token", "requestBody": body("RefreshToken"),
                "responses": { "200": ok("tokens", "TokenPair"), "401": problem("invalid, expired, revoked or reused token") } } },
            "/auth/logout": { "post": {
                "summary": "End the session (revokes the token's family)", "requestBody": body("RefreshToken"),
                "responses": { "204": { "description": "done" } } } },
            "/me": {
                "get": { "summary": "My profile", "security": secured, "responses": { "200": ok("profile", "Profile"), "401": problem("no or invalid token") } },
                "patch": { "summary": "Change display name or bio", "security": secured, "requestBody": body("ProfilePatch"),
                    "responses": { "200": ok("profile", "Profile"), "401": problem("no or invalid token"), "422": problem("invalid fields") } },
                "delete": { "summary": "Delete my account", "security": secured,
                    "responses": { "204": { "description": "deleted" }, "409": problem("open loans") } } },
            "/me/password": { "put": { "summary": "Change my password (ends every session)", "security": secured, "requestBody": body("PasswordChange"),
                "responses": { "204": { "description": "changed" }, "403": problem("wrong current password"), "422": problem("invalid new password") } } },
            "/me/loans": { "get": { "summary": "My loans, open first", "security": secured, "responses": { "200": { "description": "{\"items\": [Loan]}" } } } },
            "/books": {
                "get": { "summary": "List books", "parameters": [
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 20 } },
                        { "name": "offset", "in": "query", "schema": { "type": "integer", "minimum": 0, "default": 0 } },
                        { "name": "author", "in": "query", "schema": { "type": "string" } },
                        { "name": "year_from", "in": "query", "schema": { "type": "integer" } },
                        { "name": "year_to", "in": "query", "schema": { "type": "integer" } },
                        { "name": "q", "in": "query", "schema": { "type": "string" } },
                        { "name": "sort", "in": "query", "schema": { "enum": ["id", "-id", "title", "-title", "author", "-author", "year", "-year"] } } ],
                    "responses": { "200": ok("a page", "Page"), "422": problem("invalid parameters") } },
                "post": { "summary": "Add a book (admin)", "security": secured, "requestBody": body("BookInput"),
                    "responses": { "201": ok("created", "Book"), "403": problem("not an admin"), "409": problem("ISBN taken"), "422": problem("invalid fields") } } },
            "/books/{id}": {
                "parameters": id_param(),
                "get": { "summary": "One book", "responses": { "200": ok("the book", "Book"), "404": problem("no such book") } },
                "put": { "summary": "Replace a book (admin)", "security": secured, "requestBody": body("BookInput"),
                    "responses": { "200": ok("the book", "Book"), "403": problem("not an admin"), "404": problem("no such book"), "409": problem("conflict"), "422": problem("invalid fields") } },
                "patch": { "summary": "Change some fields (admin)", "security": secured, "requestBody": body("BookPatch"),
                    "responses": { "200": ok("the book", "Book"), "403": problem("not an admin"), "404": problem("no such book"), "409": problem("conflict"), "422": problem("invalid fields") } },
                "delete": { "summary": "Remove a book (admin)", "security": secured,
                    "responses": { "204": { "description": "removed" }, "403": problem("not an admin"), "404": problem("no such book"), "409": problem("copies on loan") } } },
            "/books/{id}/loans": { "parameters": id_param(), "post": { "summary": "Borrow a copy", "security": secured,
                "responses": { "201": ok("the loan", "Loan"), "404": problem("no such book"), "409": problem("none available, or at the loan limit") } } },
            "/loans/{id}/return": { "parameters": id_param(), "post": { "summary": "Return a loan", "security": secured,
                "responses": { "200": ok("the loan", "Loan"), "404": problem("no such loan of yours"), "409": problem("already returned") } } }
        },
        "components": {
            "securitySchemes": { BEARER: { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "schemas": {
                "Problem": { "type": "object", "required": ["type", "title", "status"], "properties": {
                    "type": { "type": "string" }, "title": { "type": "string" }, "status": { "type": "integer" }, "detail": { "type": "string" },
                    "errors": { "type": "array", "items": { "type": "object", "properties": { "field": { "type": "string" }, "message": { "type": "string" } } } } } },
                "Signup": { "type": "object", "required": ["email", "password", "display_name"], "additionalProperties": false, "properties": {
                    "email": { "type": "string", "format": "email" }, "password": { "type": "string", "minLength": 8, "maxLength": 72 }, "display_name": { "type": "string" } } },
                "Login": { "type": "object", "required": ["email", "password"], "additionalProperties": false, "properties": {
                    "email": { "type": "string" }, "password": { "type": "string" } } },
                "RefreshToken": { "type": "object", "required": ["refresh_token"], "additionalProperties": false, "properties": { "refresh_token": { "type": "string" } } },
                "TokenPair": { "type": "object", "properties": {
                    "access_token": { "type": "string" }, "refresh_token": { "type": "string" }, "token_type": { "const": "Bearer" }, "expires_in": { "type": "integer" } } },
                "Profile": { "type": "object", "properties": {
                    "id": { "type": "integer" }, "email": { "type": "string" }, "display_name": { "type": "string" }, "bio": { "type": "string" },
                    "role": { "enum": ["member", "admin"] }, "created_at": { "type": "integer" } } },
                "ProfilePatch": { "type": "object", "additionalProperties": false, "properties": { "display_name": { "type": "string" }, "bio": { "type": "string", "maxLength": 1000 } } },
                "PasswordChange": { "type": "object", "required": ["current_password", "new_password"], "additionalProperties": false, "properties": {
                    "current_password": { "type": "string" }, "new_password": { "type": "string", "minLength": 8, "maxLength": 72 } } },
                "Book": { "type": "object", "required": ["id", "title", "author", "year", "copies", "available"], "properties": {
                    "id": { "type": "integer" }, "title": { "type": "string" }, "author": { "type": "string" }, "year": { "type": "integer" },
                    "isbn": { "type": "string" }, "copies": { "type": "integer" }, "available": { "type": "integer" } } },
                "BookInput": { "type": "object", "required": ["title", "author", "year"], "additionalProperties": false, "properties": {
                    "title": { "type": "string", "maxLength": 200 }, "author": { "type": "string", "maxLength": 100 }, "year": { "type": "integer" },
                    "isbn": { "type": ["string", "null"] }, "copies": { "type": "integer", "minimum": 0, "default": 1 } } },
                "BookPatch": { "type": "object", "additionalProperties": false, "properties": {
                    "title": { "type": "string" }, "author": { "type": "string" }, "year": { "type": "integer" }, "isbn": { "type": ["string", "null"] }, "copies": { "type": "integer" } } },
                "Page": { "type": "object", "properties": {
                    "items": { "type": "array", "items": { "$ref": "#/components/schemas/Book" } }, "total": { "type": "integer" },
                    "limit": { "type": "integer" }, "offset": { "type": "integer" }, "next": { "type": ["string", "null"] } } },
                "Loan": { "type": "object", "properties": {
                    "id": { "type": "integer" }, "book_id": { "type": "integer" }, "borrowed_at": { "type": "integer" }, "returned_at": { "type": ["integer", "null"] } } }
            }
        }
    })
}
