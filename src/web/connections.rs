//! Fair shares of the connection budget. The node accepts a bounded number of
//! connections (below its open-file limit); a few clients that open many and
//! hold them (headers, then a body that never comes) could take them all.
//!
//! Two defences, both decided when a connection is accepted:
//!
//! - **Shares.** Each connection gets a ticket counting it among its
//!   client's open connections, a client being what the rate limiter counts
//!   ([`crate::limits::client_networks`]: an IPv4 address, an IPv6 /64, and
//!   the /48 around it with [`IPV6_48_FACTOR`] times a client's share). While
//!   the node holds more than half the connections it can take, a connection
//!   beyond `MAX_CONNECTIONS_PER_CLIENT` for its client is shut at once,
//!   before a byte of it is read (and at any load, one beyond an eighth of
//!   what the node can take). (Answering it instead would not free it: the
//!   server waits for the declared body of a request before it closes the
//!   connection.)
//! - **Making room.** Shares alone do not save the node from many clients
//!   each within its share (40 addresses, 28 stalled bodies each, filled a
//!   node with 1,024 descriptors well within the body deadline). So near
//!   capacity, every new connection closes the oldest connection still
//!   waiting for a request body (it answers `408 request_timeout`, see
//!   `parsing::read_body_in_time`): a new client always finds a slot, and a
//!   stalled body lasts only until newer connections need its place. Only
//!   connections waiting for a body can be closed this way; a request whose
//!   body has arrived is never cut off.

use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use tokio::sync::Notify;

use crate::limits::{ClientNetworks, IPV6_48_FACTOR, client_networks};

/// The open connections of one server, by client.
pub struct ConnectionLimits {
    per_client: usize,
    /// Past this many open connections the node counts as busy.
    busy_above: usize,
    /// Past this many open connections, room is made by closing the oldest
    /// connections waiting for a body. Below the capacity, because the
    /// server stops accepting (and so stops calling `on_connect`) once every
    /// worker is full: the room has to be made while it still accepts.
    evict_above: usize,
    trusted_proxies: Vec<ipnet::IpNet>,
    open: Mutex<Open>,
    total: AtomicUsize,
    /// Numbers connections in the order they were accepted: the oldest is
    /// the lowest.
    next_id: AtomicU64,
}

#[derive(Default)]
struct Open {
    /// By [`ClientNetworks::client`].
    clients: HashMap<IpAddr, usize>,
    /// By [`ClientNetworks::wider`] (a separate map: a /64 and its /48 can
    /// have the same network address).
    networks: HashMap<IpAddr, usize>,
    /// Connections waiting for a request body, oldest first, with the signal
    /// that closes them.
    waiting_for_body: BTreeMap<u64, Arc<Notify>>,
    /// Connections told to close that are not closed yet: they still count
    /// in the total, but room has been made for them already.
    closing: HashSet<u64>,
}

/// Kept with each connection (in its `on_connect` extensions); gives its
/// slot back when the connection ends.
pub struct ConnectionTicket {
    limits: Arc<ConnectionLimits>,
    client: Option<ClientNetworks>,
    id: u64,
}

/// A connection waiting for a request body, from [`ConnectionTicket::wait_for_body`]
/// until dropped (when the body has arrived or the request is answered).
pub struct BodyWait {
    limits: Arc<ConnectionLimits>,
    id: u64,
    close: Arc<Notify>,
}

impl ConnectionLimits {
    /// For a server that takes `capacity` connections at most.
    pub fn new(per_client: usize, capacity: usize, trusted_proxies: Vec<ipnet::IpNet>) -> Self {
        Self {
            per_client,
            busy_above: capacity / 2,
            // An eighth of the capacity is headroom: the connections accepted
            // between one that is about to be closed and its actual close.
            evict_above: capacity - capacity / 8,
            trusted_proxies,
            open: Mutex::new(Open::default()),
            total: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
        }
    }

    /// `HttpServer::on_connect`: numbers the new connection, and shuts it if
    /// it crowds the node.
    pub fn on_connect(self: &Arc<Self>, connection: &dyn Any, data: &mut Extensions) {
        let stream = connection.downcast_ref::<TcpStream>();
        let peer = stream
            .and_then(|stream| stream.peer_addr().ok())
            .map(|peer| peer.ip());
        let (ticket, crowding) = self.admit(peer);
        data.insert(ticket);
        if let Some(stream) = stream.filter(|_| crowding) {
            // The server then reads end-of-stream and drops the connection
            // (and with it the ticket) at once.
            if let Err(error) = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both) {
                tracing::debug!(%error, "could not shut a crowding connection");
            }
        }
    }

    /// Counts a new connection from `peer`: its ticket, and whether it
    /// crowds the node. One that stays is made room for, near capacity.
    fn admit(self: &Arc<Self>, peer: Option<IpAddr>) -> (ConnectionTicket, bool) {
        // An IPv4 client on a dual-stack listener shows as ::ffff:a.b.c.d.
        let peer = peer.map(|peer| peer.to_canonical());
        let client = peer.map(client_networks);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        let mut open = self.lock();
        let (mine, in_network) = client.map_or((0, 0), |client| {
            let mine = increment(&mut open.clients, client.client);
            let in_network = client
                .wider
                .map_or(0, |network| increment(&mut open.networks, network));
            (mine, in_network)
        });
        let trusted = peer.is_some_and(|peer| {
            self.trusted_proxies
                .iter()
                .any(|network| network.contains(&peer))
        });
        let crowding = !trusted
            && (self.beyond_share(total, mine, 1)
                || self.beyond_share(total, in_network, IPV6_48_FACTOR));
        if !crowding {
            self.make_room(&mut open);
        }
        let ticket = ConnectionTicket {
            limits: self.clone(),
            client,
            id,
        };
        (ticket, crowding)
    }

    /// Whether `count` connections of one client (or, with `factor`
    /// [`IPV6_48_FACTOR`], of one /48) crowd the node: beyond the share while
    /// it is busy; and whatever the load, beyond a quarter of the busy mark,
    /// so that one client cannot take the first half before the shares apply.
    fn beyond_share(&self, total: usize, count: usize, factor: u32) -> bool {
        let share = self
            .per_client
            .saturating_mul(usize::try_from(factor).unwrap_or(usize::MAX));
        (total > self.busy_above && count > share) || count > share.max(self.busy_above / 4)
    }

    /// While the node holds more than `evict_above` connections (counting
    /// those already told to close as gone), tells the oldest connections
    /// waiting for a body to close. Run when a connection arrives and when one
    /// starts waiting for a body (the connections that filled the node may
    /// not have got that far when they were accepted).
    fn make_room(&self, open: &mut Open) {
        let total = self.total.load(Ordering::Relaxed);
        let excess = total
            .saturating_sub(self.evict_above)
            .saturating_sub(open.closing.len());
        for _ in 0..excess {
            let Some((id, close)) = open.waiting_for_body.pop_first() else {
                break;
            };
            close.notify_one();
            open.closing.insert(id);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Adds one to `key`'s count and returns the new count.
fn increment(counts: &mut HashMap<IpAddr, usize>, key: IpAddr) -> usize {
    let count = counts.entry(key).or_default();
    *count += 1;
    *count
}

/// Takes one from `key`'s count, forgetting it at zero.
fn decrement(counts: &mut HashMap<IpAddr, usize>, key: IpAddr) {
    if let Some(count) = counts.get_mut(&key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(&key);
        }
    }
}

impl ConnectionTicket {
    /// Marks the connection as waiting for a request body (so that it may be
    /// closed to make room) until the returned [`BodyWait`] is dropped.
    pub fn wait_for_body(&self) -> BodyWait {
        let close = Arc::new(Notify::new());
        let mut open = self.limits.lock();
        open.waiting_for_body.insert(self.id, close.clone());
        self.limits.make_room(&mut open);
        BodyWait {
            limits: self.limits.clone(),
            id: self.id,
            close,
        }
    }
}

impl BodyWait {
    /// Completes when the node needs this connection's slot: the body wait
    /// is over, and the connection should be answered and closed.
    pub async fn closed_to_make_room(&self) {
        // A permit given before this is awaited is kept, so none is lost.
        self.close.notified().await;
    }
}

impl Drop for BodyWait {
    fn drop(&mut self) {
        self.limits.lock().waiting_for_body.remove(&self.id);
    }
}

impl Drop for ConnectionTicket {
    fn drop(&mut self) {
        let mut open = self.limits.lock();
        open.closing.remove(&self.id);
        open.waiting_for_body.remove(&self.id);
        if let Some(client) = self.client {
            decrement(&mut open.clients, client.client);
            if let Some(network) = client.wider {
                decrement(&mut open.networks, network);
            }
        }
        // Under the lock, so that `make_room` never sees a total that still
        // counts a connection already gone from `closing`.
        self.limits.total.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// Counts one connection from `address` as `on_connect` does; whether it
    /// crowds the node.
    fn connect(limits: &Arc<ConnectionLimits>, address: &str) -> (ConnectionTicket, bool) {
        limits.admit(Some(ip(address)))
    }

    #[test]
    fn addresses_of_one_ipv6_64_share_one_clients_connections() {
        // Busy from the start (capacity 2): the shares apply at once.
        let limits = Arc::new(ConnectionLimits::new(4, 2, Vec::new()));
        let mut held = Vec::new();
        let mut crowded = 0;
        for host in 1..=10 {
            let (ticket, crowding) = connect(&limits, &format!("2001:db8:1:2::{host:x}"));
            crowded += usize::from(crowding);
            held.push(ticket);
        }
        assert_eq!(
            crowded, 6,
            "ten addresses of one /64 are one client of share 4"
        );
        drop(held);
        assert_eq!(limits.total.load(Ordering::Relaxed), 0);
        assert!(limits.lock().clients.is_empty());
    }

    #[test]
    fn a_48_gets_sixteen_shares_across_its_64s() {
        let limits = Arc::new(ConnectionLimits::new(2, 2, Vec::new()));
        let mut held = Vec::new();
        let mut crowded = 0;
        // 40 /64s of one /48, one connection each: within each /64's share,
        // but the /48's is 2 × 16 = 32.
        for subnet in 1..=40u32 {
            let (ticket, crowding) = connect(&limits, &format!("2001:db8:7:{subnet:x}::1"));
            crowded += usize::from(crowding);
            held.push(ticket);
        }
        assert_eq!(crowded, 8);
        // Another /48 is another customer.
        let (other, crowding) = connect(&limits, "2001:db8:8::1");
        assert!(!crowding);
        drop((held, other));
        assert!(limits.lock().networks.is_empty());
    }

    #[test]
    fn an_ipv4_client_through_an_ipv6_socket_counts_as_its_ipv4_address() {
        let limits = Arc::new(ConnectionLimits::new(1, 2, Vec::new()));
        let (_first, crowding) = connect(&limits, "::ffff:192.0.2.1");
        assert!(!crowding);
        // Another IPv4 client is not the same /64 (::ffff:0:0/64).
        let (_second, crowding) = connect(&limits, "::ffff:192.0.2.2");
        assert!(!crowding);
        let (_third, crowding) = connect(&limits, "192.0.2.2");
        assert!(crowding);
    }

    #[test]
    fn near_capacity_the_oldest_connections_waiting_for_a_body_are_closed() {
        // Capacity 16: room is made above 14.
        let limits = Arc::new(ConnectionLimits::new(100, 16, Vec::new()));
        let tickets: Vec<_> = (0..14)
            .map(|host| connect(&limits, &format!("192.0.2.{host}")).0)
            .collect();
        // The first two have their body (no longer waiting); the rest wait.
        let waits: Vec<_> = tickets[2..]
            .iter()
            .map(ConnectionTicket::wait_for_body)
            .collect();
        assert!(limits.lock().closing.is_empty(), "not near capacity yet");

        let (fifteenth, _) = connect(&limits, "192.0.2.100");
        let (sixteenth, _) = connect(&limits, "192.0.2.101");
        let closing = limits.lock().closing.clone();
        assert_eq!(
            closing,
            HashSet::from([tickets[2].id, tickets[3].id]),
            "the two oldest waiting for a body, not the ones past it"
        );
        // Their signal is there for them to find.
        let signalled = |wait: &BodyWait| wait.closed_to_make_room().now_or_never().is_some();
        assert!(signalled(&waits[0]) && signalled(&waits[1]));
        assert!(!signalled(&waits[2]));

        // Once they close, the node is at the mark again: nothing more closes.
        drop(waits);
        drop(tickets);
        drop((fifteenth, sixteenth));
        let open = limits.lock();
        assert!(open.closing.is_empty() && open.waiting_for_body.is_empty());
        assert_eq!(limits.total.load(Ordering::Relaxed), 0);
    }
}
