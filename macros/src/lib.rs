//! Procedural macros for Kiln.
//!
//! Users reach these through `kiln` (or `kiln_runtime`): `#[kiln::main]`, `#[kiln::test]`,
//! and `select!`, `join!`, `try_join!`. The three function-like macros are wrapped by
//! `macro_rules!` macros in `kiln-runtime`, which pass `$crate` as the first token so that the
//! generated code names the runtime's support items correctly however the user reached the
//! macro.
//!
//! # Layout
//! - `entry.rs`: `#[main]` and `#[test]`.
//! - `select.rs`: `select!`.
//! - `join.rs`: `join!` and `try_join!`.

#![forbid(unsafe_code)]

use proc_macro::TokenStream;

mod entry;
mod join;
mod select;

/// Marks `async fn main` to run on a Kiln runtime.
///
/// Arguments: `flavor = "multi_thread"` (default) or `"current_thread"`, `worker_threads = N`,
/// `start_paused = true` (current-thread only), `crate = "path"` (where the runtime is, if not
/// `kiln`).
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(args.into(), item.into(), entry::Kind::Main).unwrap_or_else(|e| e.to_compile_error()).into()
}

/// Marks an `async fn` test to run on a Kiln runtime (current-thread by default).
///
/// Same arguments as [`macro@main`].
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(args.into(), item.into(), entry::Kind::Test).unwrap_or_else(|e| e.to_compile_error()).into()
}

#[doc(hidden)]
#[proc_macro]
pub fn select_impl(input: TokenStream) -> TokenStream {
    select::expand(input.into()).unwrap_or_else(|e| e.to_compile_error()).into()
}

#[doc(hidden)]
#[proc_macro]
pub fn join_impl(input: TokenStream) -> TokenStream {
    join::expand(input.into(), false).unwrap_or_else(|e| e.to_compile_error()).into()
}

#[doc(hidden)]
#[proc_macro]
pub fn try_join_impl(input: TokenStream) -> TokenStream {
    join::expand(input.into(), true).unwrap_or_else(|e| e.to_compile_error()).into()
}

/// The branch to poll on iteration `__kiln_i` of a poll that starts at `__kiln_start`:
/// `(start + i) mod n`, computed without `%`, which clippy would flag in user code as `x % 1`
/// for a one-branch `select!` or `join!`.
fn rotated_branch(n: usize) -> proc_macro2::TokenStream {
    quote::quote! {{
        let __kiln_branch = __kiln_start + __kiln_i;
        if __kiln_branch >= #n { __kiln_branch - #n } else { __kiln_branch }
    }}
}

/// Splits `$crate ; rest` into the crate path tokens and the rest.
fn split_crate(
    input: proc_macro2::TokenStream,
) -> syn::Result<(proc_macro2::TokenStream, proc_macro2::TokenStream)> {
    let mut krate = proc_macro2::TokenStream::new();
    let mut iter = input.into_iter();
    for tt in iter.by_ref() {
        if let proc_macro2::TokenTree::Punct(p) = &tt {
            if p.as_char() == ';' {
                return Ok((krate, iter.collect()));
            }
        }
        krate.extend([tt]);
    }
    Err(syn::Error::new(
        proc_macro2::Span::call_site(),
        "internal: expected `$crate;` before the macro input",
    ))
}
