//! Who is asking: the client side of a request, as the gateway's listener saw it.

use std::net::SocketAddr;

/// What the gateway knows of the client side of a request.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) peer: SocketAddr,
    /// `http` or `https`: the gateway's own listener.
    pub(crate) scheme: &'static str,
}
