//! `#[kiln::main]` and `#[kiln::test]`: wrap an `async fn` in a runtime's `block_on`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ItemFn, Lit, Meta, Token};

pub(crate) enum Kind {
    Main,
    Test,
}

struct Config {
    current_thread: bool,
    worker_threads: Option<usize>,
    start_paused: bool,
    krate: syn::Path,
}

pub(crate) fn expand(args: TokenStream, item: TokenStream, kind: Kind) -> syn::Result<TokenStream> {
    let mut func: ItemFn = syn::parse2(item)?;
    if func.sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            func.sig.fn_token,
            "the `async` keyword is missing from the function declaration",
        ));
    }
    if matches!(kind, Kind::Main) && !func.sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(&func.sig.inputs, "`main` cannot take arguments"));
    }
    let config = parse_config(args, &kind)?;
    func.sig.asyncness = None;

    let krate = &config.krate;
    let mut builder = if config.current_thread {
        quote!(#krate::runtime::Builder::new_current_thread())
    } else {
        quote!(#krate::runtime::Builder::new_multi_thread())
    };
    if let Some(n) = config.worker_threads {
        builder = quote!(#builder.worker_threads(#n));
    }
    if config.start_paused {
        builder = quote!(#builder.start_paused(true));
    }
    let body = &func.block;
    let attrs = &func.attrs;
    let vis = &func.vis;
    let sig = &func.sig;
    let test_attr = match kind {
        Kind::Test => quote!(#[::core::prelude::v1::test]),
        Kind::Main => quote!(),
    };
    Ok(quote! {
        #test_attr
        #(#attrs)*
        #vis #sig {
            let body = async #body;
            #builder
                .enable_all()
                .build()
                .expect("failed to build the Kiln runtime")
                .block_on(body)
        }
    })
}

fn parse_config(args: TokenStream, kind: &Kind) -> syn::Result<Config> {
    let mut config = Config {
        current_thread: matches!(kind, Kind::Test),
        worker_threads: None,
        start_paused: false,
        krate: syn::parse_quote!(kiln),
    };
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    for meta in metas {
        let Meta::NameValue(nv) = &meta else {
            return Err(syn::Error::new_spanned(meta, "expected `name = value`"));
        };
        let name = nv.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
        let Expr::Lit(ExprLit { lit, .. }) = &nv.value else {
            return Err(syn::Error::new_spanned(&nv.value, "expected a literal"));
        };
        match (name.as_str(), lit) {
            ("flavor", Lit::Str(s)) => match s.value().as_str() {
                "current_thread" => config.current_thread = true,
                "multi_thread" => config.current_thread = false,
                other => {
                    return Err(syn::Error::new_spanned(
                        s,
                        format!("unknown flavor `{other}`: expected \"current_thread\" or \"multi_thread\""),
                    ))
                }
            },
            ("worker_threads", Lit::Int(n)) => {
                let n: usize = n.base10_parse()?;
                if n == 0 {
                    return Err(syn::Error::new_spanned(lit, "worker_threads must be at least 1"));
                }
                config.worker_threads = Some(n);
            }
            ("start_paused", Lit::Bool(b)) => config.start_paused = b.value,
            ("crate", Lit::Str(s)) => config.krate = s.parse()?,
            _ => {
                return Err(syn::Error::new_spanned(
                    &nv.path,
                    "unknown argument: expected `flavor`, `worker_threads`, `start_paused` or `crate`",
                ))
            }
        }
    }
    if config.current_thread && config.worker_threads.is_some() {
        return Err(syn::Error::new(Span::call_site(), "worker_threads needs flavor = \"multi_thread\""));
    }
    if !config.current_thread && config.start_paused {
        return Err(syn::Error::new(Span::call_site(), "start_paused needs flavor = \"current_thread\""));
    }
    Ok(config)
}
