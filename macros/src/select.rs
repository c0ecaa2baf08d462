//! `select!`: wait on several futures, run the handler of the first to complete.
//!
//! ```text
//! select! {
//!     [biased;]
//!     <pattern> = <future> [, if <condition>] => <handler>,
//!     ...
//!     [else => <handler>]
//! }
//! ```
//!
//! The expansion evaluates every condition, then every future expression, pins the futures on
//! the stack, and polls them in a `poll_fn`, starting from a random branch (or the first,
//! with `biased;`) so no branch is systematically favoured. A completed future whose output
//! does not match its pattern disables its branch. The futures are dropped *before* the
//! handler runs, so handlers may use whatever the futures borrowed.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Pat, Token};

/// At most 64 branches: their disabled flags live in one `u64`.
const MAX_BRANCHES: usize = 64;

struct Branch {
    pat: Pat,
    fut: Expr,
    cond: Option<Expr>,
    handler: Expr,
}

struct Select {
    biased: bool,
    branches: Vec<Branch>,
    else_handler: Option<Expr>,
}

fn parse_handler(input: ParseStream) -> syn::Result<Expr> {
    if input.peek(syn::token::Brace) {
        let block: syn::Block = input.parse()?;
        if input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
        }
        Ok(Expr::Block(syn::ExprBlock { attrs: Vec::new(), label: None, block }))
    } else {
        let expr: Expr = input.parse()?;
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
        Ok(expr)
    }
}

impl Parse for Select {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut biased = false;
        if input.peek(syn::Ident)
            && input.fork().parse::<syn::Ident>().is_ok_and(|i| i == "biased")
            && input.peek2(Token![;])
        {
            input.parse::<syn::Ident>()?;
            input.parse::<Token![;]>()?;
            biased = true;
        }
        let mut branches = Vec::new();
        let mut else_handler = None;
        while !input.is_empty() {
            if input.peek(Token![else]) {
                input.parse::<Token![else]>()?;
                input.parse::<Token![=>]>()?;
                else_handler = Some(parse_handler(input)?);
                if !input.is_empty() {
                    return Err(input.error("the `else` branch must come last"));
                }
                break;
            }
            let pat = Pat::parse_multi_with_leading_vert(input)?;
            input.parse::<Token![=]>()?;
            let fut: Expr = input.parse()?;
            let mut cond = None;
            if input.peek(Token![,]) && input.peek2(Token![if]) {
                input.parse::<Token![,]>()?;
                input.parse::<Token![if]>()?;
                cond = Some(input.parse()?);
            }
            input.parse::<Token![=>]>()?;
            let handler = parse_handler(input)?;
            branches.push(Branch { pat, fut, cond, handler });
        }
        Ok(Select { biased, branches, else_handler })
    }
}

pub(crate) fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let (krate, rest) = crate::split_crate(input)?;
    let select: Select = syn::parse2(rest)?;
    let n = select.branches.len();
    if n == 0 {
        return Err(syn::Error::new(Span::call_site(), "select! needs at least one branch"));
    }
    if n > MAX_BRANCHES {
        return Err(syn::Error::new(Span::call_site(), "select! supports at most 64 branches"));
    }
    let variants: Vec<_> = (0..n).map(|i| format_ident!("__B{}", i)).collect();
    let generics: Vec<_> = (0..n).map(|i| format_ident!("__T{}", i)).collect();
    let futs: Vec<_> = (0..n).map(|i| format_ident!("__kiln_fut{}", i)).collect();

    let conds = select.branches.iter().enumerate().map(|(i, b)| {
        let bit = 1u64 << i;
        b.cond.as_ref().map(|c| quote!(if !(#c) { __kiln_disabled |= #bit; })).unwrap_or_default()
    });
    let pins = select.branches.iter().zip(&futs).map(|(b, f)| {
        let fut = &b.fut;
        quote!(let mut #f = ::core::pin::pin!(::core::future::IntoFuture::into_future(#fut));)
    });
    let arms = select.branches.iter().enumerate().map(|(i, b)| {
        let bit = 1u64 << i;
        let (pat, f, v) = (&b.pat, &futs[i], &variants[i]);
        quote! {
            #i => {
                if __kiln_disabled & #bit != 0 {
                    continue;
                }
                // A branch after one that spent the task's budget gets one unit: a due timer
                // still completes (see `coop::with_one_unit`).
                let __kiln_poll = if __kiln_had_budget {
                    #krate::__private::with_one_unit(|| ::core::future::Future::poll(#f.as_mut(), __kiln_cx))
                } else {
                    ::core::future::Future::poll(#f.as_mut(), __kiln_cx)
                };
                if let ::core::task::Poll::Ready(__kiln_value) = __kiln_poll {
                    #[allow(unused_variables, unused_mut, unreachable_patterns, clippy::redundant_pattern_matching)]
                    match &__kiln_value {
                        #pat => {}
                        _ => {
                            __kiln_disabled |= #bit;
                            continue;
                        }
                    }
                    return ::core::task::Poll::Ready(__KilnSelectOut::#v(__kiln_value));
                }
                __kiln_pending = true;
            }
        }
    });
    let handlers = select.branches.iter().enumerate().map(|(i, b)| {
        let (pat, h, v) = (&b.pat, &b.handler, &variants[i]);
        quote!(__KilnSelectOut::#v(#pat) => #h,)
    });
    let else_arm = match &select.else_handler {
        Some(h) => quote!(__KilnSelectOut::__Disabled => #h,),
        None => {
            quote!(__KilnSelectOut::__Disabled => ::core::panic!("all branches are disabled and there is no else branch"),)
        }
    };
    let rotated = crate::rotated_branch(n);
    let n32 = n as u32;
    let start =
        if select.biased { quote!(0usize) } else { quote!(#krate::__private::thread_rng_n(#n32) as usize) };

    Ok(quote! {{
        #[allow(non_camel_case_types, clippy::enum_variant_names)]
        enum __KilnSelectOut<#(#generics),*> { #(#variants(#generics),)* __Disabled }
        let __kiln_out = {
            let mut __kiln_disabled: u64 = 0;
            #(#conds)*
            #(#pins)*
            ::core::future::poll_fn(|__kiln_cx| {
                let __kiln_start: usize = #start;
                let __kiln_had_budget = #krate::__private::has_budget_remaining();
                let mut __kiln_pending = false;
                for __kiln_i in 0..#n {
                    match #rotated {
                        #(#arms)*
                        _ => ::core::unreachable!(),
                    }
                }
                if __kiln_pending {
                    ::core::task::Poll::Pending
                } else {
                    ::core::task::Poll::Ready(__KilnSelectOut::__Disabled)
                }
            })
            .await
        };
        #[allow(unreachable_patterns, unused_variables)]
        match __kiln_out {
            #(#handlers)*
            #else_arm
            _ => ::core::unreachable!("select!: a completed branch's pattern was checked before its handler ran"),
        }
    }})
}
