//! `ToSocketAddrs`: what `bind`, `connect` and `send_to` accept, as Tokio's do.
//!
//! A `SocketAddr`, an `(ip, port)` pair, or a string such as `"127.0.0.1:8080"` is turned into
//! addresses at once. A host name (`"localhost:8080"`, `("example.com", 80)`) needs a DNS
//! lookup, which the OS only offers as a blocking call, so it runs on the blocking pool
//! ([`lookup_host`]) and never stalls a worker.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Something that names one or more socket addresses. Implemented for the same types as
/// Tokio's `ToSocketAddrs`; sealed.
pub trait ToSocketAddrs: sealed::Sealed {}

pub(crate) mod sealed {
    use std::net::SocketAddr;

    /// The addresses, or a host name that must go through DNS.
    pub enum Target {
        /// The common case, kept out of a `Vec` so `send_to(buf, addr)` allocates nothing.
        One(SocketAddr),
        Addrs(Vec<SocketAddr>),
        Lookup(String),
    }

    pub trait Sealed {
        fn target(&self) -> Target;
    }
}

use sealed::{Sealed, Target};

macro_rules! ready_addr {
    ($($ty:ty),*) => {$(
        impl ToSocketAddrs for $ty {}
        impl Sealed for $ty {
            fn target(&self) -> Target {
                Target::One(SocketAddr::from(*self))
            }
        }
    )*};
}
ready_addr!(SocketAddr, SocketAddrV4, SocketAddrV6, (IpAddr, u16), (Ipv4Addr, u16), (Ipv6Addr, u16));

impl ToSocketAddrs for str {}
impl Sealed for str {
    fn target(&self) -> Target {
        match self.parse::<SocketAddr>() {
            Ok(a) => Target::One(a),
            Err(_) => Target::Lookup(self.to_owned()),
        }
    }
}

impl ToSocketAddrs for String {}
impl Sealed for String {
    fn target(&self) -> Target {
        self.as_str().target()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl Sealed for (&str, u16) {
    fn target(&self) -> Target {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Target::One(SocketAddr::new(ip, self.1)),
            Err(_) => Target::Lookup(format!("{}:{}", self.0, self.1)),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl Sealed for (String, u16) {
    fn target(&self) -> Target {
        (self.0.as_str(), self.1).target()
    }
}

impl ToSocketAddrs for [SocketAddr] {}
impl Sealed for [SocketAddr] {
    fn target(&self) -> Target {
        Target::Addrs(self.to_vec())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: Sealed + ?Sized> Sealed for &T {
    fn target(&self) -> Target {
        (**self).target()
    }
}

/// Resolves `addr` to its socket addresses, looking host names up on the blocking pool.
///
/// # Errors
/// If the lookup fails or finds nothing.
pub async fn lookup_host(addr: impl ToSocketAddrs) -> io::Result<impl Iterator<Item = SocketAddr>> {
    Ok(resolve(&addr).await?.into_iter())
}

/// The addresses `addr` names; never empty.
pub(crate) async fn resolve(addr: &(impl ToSocketAddrs + ?Sized)) -> io::Result<Vec<SocketAddr>> {
    let addrs = match addr.target() {
        Target::One(a) => vec![a],
        Target::Addrs(a) => a,
        Target::Lookup(host) => {
            let looked_up = kiln_runtime::task::spawn_blocking(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&host).map(Iterator::collect::<Vec<_>>)
            })
            .await
            .map_err(|e| io::Error::other(format!("DNS lookup task failed: {e}")))?;
            looked_up?
        }
    };
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "the address resolved to nothing"));
    }
    Ok(addrs)
}

/// The first address `addr` names, without allocating when it is a literal address.
pub(crate) async fn resolve_first(addr: &(impl ToSocketAddrs + ?Sized)) -> io::Result<SocketAddr> {
    match addr.target() {
        Target::One(a) => Ok(a),
        _ => Ok(resolve(addr).await?[0]),
    }
}

/// Tries `f` on each address in turn; returns the first success or the last error.
pub(crate) async fn try_each<T, F, Fut>(addrs: Vec<SocketAddr>, mut f: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for a in addrs {
        match f(a).await {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to try")))
}
