//! Fair shares of the connection budget. The node accepts a bounded number of
//! connections (below its open-file limit); a few addresses that open many
//! and hold them (headers, then a body that never comes) could take them all.
//! Each connection therefore gets a ticket when it is accepted, numbering it
//! among its address's open connections; while the node holds more than half
//! the connections it can take, a connection beyond `MAX_CONNECTIONS_PER_CLIENT`
//! for its address is shut at once, before a byte of it is read (and at any
//! load, one beyond an eighth of what the node can take). (Answering
//! it instead would not free it: the server waits for the declared body of a
//! request before it closes the connection.)

use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;

/// The open connections of one server, by client address.
pub struct ConnectionLimits {
    per_client: usize,
    /// Past this many open connections the node counts as busy.
    busy_above: usize,
    trusted_proxies: Vec<ipnet::IpNet>,
    open: Mutex<HashMap<IpAddr, usize>>,
    total: AtomicUsize,
}

/// Kept with each connection; gives its slot back when the connection ends.
struct ConnectionTicket {
    limits: Arc<ConnectionLimits>,
    address: Option<IpAddr>,
}

impl ConnectionLimits {
    /// For a server that takes `capacity` connections at most.
    pub fn new(per_client: usize, capacity: usize, trusted_proxies: Vec<ipnet::IpNet>) -> Self {
        Self {
            per_client,
            busy_above: capacity / 2,
            trusted_proxies,
            open: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
        }
    }

    /// `HttpServer::on_connect`: numbers the new connection, and shuts it if
    /// it crowds the node.
    pub fn on_connect(self: &Arc<Self>, connection: &dyn Any, data: &mut Extensions) {
        let stream = connection.downcast_ref::<TcpStream>();
        let address = stream
            .and_then(|stream| stream.peer_addr().ok())
            // An IPv4 client on a dual-stack listener shows as ::ffff:a.b.c.d.
            .map(|peer| peer.ip().to_canonical());
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        let mine = address.map_or(0, |address| {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            let count = open.entry(address).or_default();
            *count += 1;
            *count
        });
        let trusted = address.is_some_and(|address| {
            self.trusted_proxies
                .iter()
                .any(|network| network.contains(&address))
        });
        data.insert(ConnectionTicket {
            limits: self.clone(),
            address,
        });
        // Beyond its share while the node is busy; and whatever the load,
        // beyond a quarter of the busy mark, so that one address cannot take
        // the first half before the shares apply.
        let crowding = !trusted
            && ((total > self.busy_above && mine > self.per_client)
                || mine > self.per_client.max(self.busy_above / 4));
        if let Some(stream) = stream.filter(|_| crowding) {
            // The server then reads end-of-stream and drops the connection
            // (and with it the ticket) at once.
            if let Err(error) = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both) {
                tracing::debug!(%error, "could not shut a crowding connection");
            }
        }
    }
}

impl Drop for ConnectionTicket {
    fn drop(&mut self) {
        self.limits.total.fetch_sub(1, Ordering::Relaxed);
        if let Some(address) = self.address {
            let mut open = self
                .limits
                .open
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = open.get_mut(&address) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&address);
                }
            }
        }
    }
}
