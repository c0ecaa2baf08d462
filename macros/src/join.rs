//! `join!` and `try_join!`: run several futures concurrently in the current task.
//!
//! Each future is wrapped in `MaybeDone` (which keeps its output once it completes) and pinned
//! on the stack. Every poll of the combined future polls each unfinished one, starting one
//! branch later each time (unless `biased;`), so an always-ready first future cannot starve
//! the others of the cooperative budget. `try_join!` returns early on the first `Err`,
//! dropping the rest.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Token};

struct Join {
    biased: bool,
    futures: Vec<Expr>,
}

impl Parse for Join {
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
        let futures = Punctuated::<Expr, Token![,]>::parse_terminated(input)?;
        Ok(Join { biased, futures: futures.into_iter().collect() })
    }
}

pub(crate) fn expand(input: TokenStream, is_try: bool) -> syn::Result<TokenStream> {
    let (krate, rest) = crate::split_crate(input)?;
    let join: Join = syn::parse2(rest)?;
    let n = join.futures.len();
    if n == 0 {
        return Ok(if is_try { quote!(async { ::core::result::Result::Ok(()) }.await) } else { quote!(()) });
    }
    let names: Vec<_> = (0..n).map(|i| format_ident!("__kiln_fut{}", i)).collect();
    let pins = join.futures.iter().zip(&names).map(|(e, f)| {
        quote!(let mut #f = ::core::pin::pin!(#krate::__private::MaybeDone::new(::core::future::IntoFuture::into_future(#e)));)
    });
    let arms = names.iter().enumerate().map(|(i, f)| {
        let early_err = if is_try {
            quote! {
                if let ::core::option::Option::Some(::core::result::Result::Err(_)) = #f.as_mut().output_mut() {
                    let __kiln_err = #f.as_mut().take_output().and_then(|r| r.err()).expect("output checked above");
                    return ::core::task::Poll::Ready(::core::result::Result::Err(__kiln_err));
                }
            }
        } else {
            quote!()
        };
        quote! {
            #i => {
                if #f.as_mut().poll_done(__kiln_cx).is_pending() {
                    __kiln_pending = true;
                } else {
                    #early_err
                }
            }
        }
    });
    let outputs = names.iter().map(|f| {
        if is_try {
            quote!(#f.as_mut().take_output().and_then(|r| r.ok()).expect("join output taken once"))
        } else {
            quote!(#f.as_mut().take_output().expect("join output taken once"))
        }
    });
    let result =
        if is_try { quote!(::core::result::Result::Ok((#(#outputs,)*))) } else { quote!((#(#outputs,)*)) };
    let rotated = crate::rotated_branch(n);
    let start = if join.biased {
        quote!(0usize)
    } else {
        quote! {{
            let __kiln_s = __kiln_skip;
            __kiln_skip = if __kiln_skip + 1 >= #n { 0 } else { __kiln_skip + 1 };
            __kiln_s
        }}
    };
    Ok(quote! {{
        #(#pins)*
        let mut __kiln_skip: usize = 0;
        ::core::future::poll_fn(|__kiln_cx| {
            #[allow(unused_mut, unused_assignments)]
            let __kiln_start: usize = #start;
            let mut __kiln_pending = false;
            for __kiln_i in 0..#n {
                match #rotated {
                    #(#arms)*
                    _ => ::core::unreachable!(),
                }
            }
            if __kiln_pending {
                return ::core::task::Poll::Pending;
            }
            ::core::task::Poll::Ready(#result)
        })
        .await
    }})
}
