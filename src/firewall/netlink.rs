//! The accounting pass's counter read, straight from the kernel: one
//! nf_tables netlink socket, one element dump per counted set
//! ([`READ_SETS`]), parsed as it arrives.
//!
//! Why not `nft`: at 10,000 online devices the kernel's dump of the two
//! per-device sets is 1.28 MB and takes 19–39 ms, while `nft -j` spends
//! 250–300 ms more building its cache objects and printing 20,000 elements
//! as JSON for us to parse back (BENCHMARKS.md, "Issue 10's hot paths", the
//! row "what nft and the kernel allow"). Everything that *changes* the table still goes through `nft -j
//! -f` (one checked transaction, the JSON the render module writes); this
//! only reads, and only three sets of our own table. When it cannot (a
//! kernel that answers in a shape we do not know, no netlink socket), the
//! caller reads through `nft` instead ([`super::Nft::counters`]).
//!
//! What is read, per element (`include/uapi/linux/netfilter/nf_tables.h`):
//!
//! ```text
//! NFTA_SET_ELEM_LIST_ELEMENTS
//!   NFTA_LIST_ELEM
//!     NFTA_SET_ELEM_KEY         { NFTA_DATA_VALUE: the key, each part padded to 4 bytes }
//!     NFTA_SET_ELEM_USERDATA    libnftnl TLVs; type 0 = the comment (cat_bytes' names)
//!     NFTA_SET_ELEM_EXPR        { NFTA_EXPR_NAME "counter", NFTA_EXPR_DATA { NFTA_COUNTER_BYTES be64 } }
//!     NFTA_SET_ELEM_EXPRESSIONS { NFTA_LIST_ELEM: an expression as above }  (kernels that list them)
//! ```

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::categories::{self, Direction};
use super::state::KernelState;
use super::{DeviceKey, READ_SETS, SET_CAT_BYTES, SET_DOWN, SET_FREE, SET_ONLINE, TABLE};
use crate::domain::Mac;

/// Why the netlink read failed; the caller then reads through `nft`.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The netlink socket could not be opened (no nf_tables
    /// netlink here, or not allowed): reading this way will not work later either.
    #[error("cannot open an nf_tables netlink socket: {0}")]
    Socket(#[source] io::Error),
    /// Sending the dump request or receiving its answer failed (a timeout, say).
    #[error("netlink {what} failed: {source}")]
    Io {
        /// `send` or `recv`.
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// The kernel refused the dump with this error.
    #[error("the kernel refused to list set {set}: {source}")]
    Refused {
        set: &'static str,
        #[source]
        source: io::Error,
    },
    /// The answer is not in the shape this reader knows (another kernel's
    /// layout, or an element this version never renders).
    #[error("unexpected netlink answer for set {set}: {what}")]
    Format {
        set: &'static str,
        /// What was wrong, in a few words.
        what: String,
    },
    /// The ruleset changed during every one of the reads tried.
    #[error("the ruleset kept changing while the counted sets were listed ({tries} tries)")]
    Interrupted { tries: u32 },
}

impl NetlinkError {
    /// True when retrying later cannot help (so the caller stops trying).
    pub fn is_permanent(&self) -> bool {
        matches!(self, NetlinkError::Socket(_) | NetlinkError::Format { .. })
    }
}

// Netlink and nf_tables numbers (the uapi headers; `libc` has the generic ones).
const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// The kernel answers a `GETSETELEM` dump with `NEWSETELEM` messages.
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFT_MSG_DELSETELEM: u16 = 14;
/// The multicast group of nf_tables' change notifications.
const NFNLGRP_NFTABLES: libc::c_int = 7;
const NFT_MSG_NEWGEN: u16 = 15;
const NFT_MSG_GETGEN: u16 = 16;
const NFTA_GEN_ID: u16 = 1;
const NFPROTO_INET: u8 = 1;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_USERDATA: u16 = 6;
const NFTA_SET_ELEM_EXPR: u16 = 7;
const NFTA_SET_ELEM_EXPRESSIONS: u16 = 11;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_COUNTER_BYTES: u16 = 1;
/// libnftnl's `NFTNL_UDATA_SET_ELEM_COMMENT`.
const UDATA_COMMENT: u8 = 0;
const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;
/// Receive buffer: the kernel sizes a dump's parts by the largest buffer
/// a reader has offered (at most 32 KiB a part); twice that is safe.
const RECV_BUFFER: usize = 64 * 1024;
/// How long to wait for each part of an answer.
const TIMEOUT_MS: i32 = 5_000;
/// How often the read starts over when the ruleset changed meanwhile.
const TRIES: u32 = 8;

/// Read [`READ_SETS`] of `inet desawifi`: `online` (upload bytes per
/// device), `down` (download bytes per address) and `cat_bytes` (the
/// categories' counters, by comment). A missing table or set reads as
/// empty, as before the first reconcile. Blocking: run it off the runtime.
///
/// The three dumps are one snapshot: the ruleset's generation (bumped by
/// every committed transaction, e.g. the firewall task admitting a phone
/// meanwhile) is read before and after, and the read starts over when it
/// moved or the kernel flagged a dump as interrupted. (A hash set's dump
/// that spans a change may skip an element, and a device missing from
/// the read makes the pass reconcile the whole table.) nft does the same
/// for its cache.
pub fn read_counted() -> Result<KernelState, NetlinkError> {
    read_counted_from(TABLE)
}

/// [`read_counted`] of another `inet` table with sets of the same names
/// (`desawifi doctor`'s throwaway table).
pub fn read_counted_from(table: &str) -> Result<KernelState, NetlinkError> {
    let socket = Socket::open()?;
    let mut buf = vec![0u8; RECV_BUFFER];
    let mut seq = 0u32;
    let mut next = || {
        seq += 1;
        seq
    };
    for _ in 0..TRIES {
        let before = socket.generation(next(), &mut buf)?;
        let mut state = KernelState::default();
        let mut interrupted = false;
        for set in READ_SETS {
            match socket.dump(table, set, next(), &mut buf, |elem| {
                add(&mut state, set, elem)
            })? {
                Dump::Complete => state.table_exists = true,
                Dump::Missing => {}
                Dump::Interrupted => interrupted = true,
            }
        }
        if !interrupted && socket.generation(next(), &mut buf)? == before {
            state.compatible = state.table_exists;
            return Ok(state);
        }
    }
    Err(NetlinkError::Interrupted { tries: TRIES })
}

/// The counters of counted elements as the kernel deleted them (issue 22,
/// item 12): a socket that joined nf_tables' notification group before a
/// batch that deletes elements. The kernel sends each deleted element with
/// its counter at the commit, after which no packet matches it, so the
/// bytes a device moved right up to its logout are all in there; no read
/// before the delete can be that exact.
pub struct DeleteWatch {
    socket: Socket,
}

impl DeleteWatch {
    /// Join the notification group (before the batch is applied).
    pub fn open() -> Result<DeleteWatch, NetlinkError> {
        let socket = Socket::open()?;
        let fd = socket.0.as_raw_fd();
        let group = NFNLGRP_NFTABLES;
        // Room for a large batch's notifications (root may pass rmem_max);
        // bound to the group (as `nft monitor` does).
        let room: libc::c_int = 4 << 20;
        // SAFETY: plain setsockopt calls on our own descriptor with c_int values.
        let joined = unsafe {
            let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&room as *const libc::c_int).cast(),
                size,
            );
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
            addr.nl_groups = 1 << (group - 1);
            libc::bind(
                fd,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if joined < 0 {
            return Err(NetlinkError::Socket(io::Error::last_os_error()));
        }
        Ok(DeleteWatch { socket })
    }

    /// The elements of `table`'s counted device sets deleted since
    /// [`DeleteWatch::open`], with their last counters. An error (the
    /// kernel dropped notifications: ENOBUFS) means some may be missing.
    pub fn deleted(&self, table: &str) -> Result<KernelState, NetlinkError> {
        let mut state = KernelState::default();
        let mut buf = vec![0u8; RECV_BUFFER];
        const WHAT: &str = "a deletion notice";
        let bad = |what: String| NetlinkError::Format { set: WHAT, what };
        // SAFETY (each recv): the kernel writes at most `buf.len()` bytes.
        while let n @ 0.. = unsafe {
            libc::recv(
                self.socket.0.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        } {
            let n = n as usize;
            if n > buf.len() {
                return Err(bad(format!("a {n}-byte notice")));
            }
            for msg in Messages(&buf[..n]) {
                let msg = msg.map_err(bad)?;
                if msg.kind != NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_DELSETELEM {
                    continue;
                }
                let attrs = msg.payload.get(NFGENMSG_LEN..).unwrap_or_default();
                let name = |kind| {
                    find(attrs, kind)
                        .ok()
                        .flatten()
                        .map(|v| v.strip_suffix(b"\0").unwrap_or(v))
                };
                if name(NFTA_SET_ELEM_LIST_TABLE) != Some(table.as_bytes()) {
                    continue;
                }
                let set = match name(NFTA_SET_ELEM_LIST_SET) {
                    Some(s) if s == SET_ONLINE.as_bytes() => SET_ONLINE,
                    Some(s) if s == SET_DOWN.as_bytes() => SET_DOWN,
                    _ => continue,
                };
                elements(msg.payload, set, &mut |elem| add(&mut state, set, elem))?;
            }
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => Ok(state),
            #[allow(unreachable_patterns)]
            Some(libc::EWOULDBLOCK) => Ok(state),
            _ => Err(NetlinkError::Io {
                what: "recv",
                source: e,
            }),
        }
    }
}

/// One element as the dump gives it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Elem<'a> {
    key: &'a [u8],
    bytes: Option<u64>,
    comment: Option<&'a str>,
}

/// File one element of `set` into `state`.
fn add(state: &mut KernelState, set: &'static str, elem: Elem<'_>) -> Result<(), NetlinkError> {
    let bad = |what: String| NetlinkError::Format { set, what };
    let bytes = elem.bytes.unwrap_or(0);
    match set {
        SET_ONLINE => {
            // ether_addr . ipv4_addr: 6 bytes padded to 8, then 4.
            let [a, b, c, d, e, f, _, _, w, x, y, z] = *elem.key else {
                return Err(bad(format!("a key of {} bytes", elem.key.len())));
            };
            let key = DeviceKey {
                mac: Mac([a, b, c, d, e, f]),
                ip: Ipv4Addr::new(w, x, y, z),
            };
            state.online.insert(key, bytes);
        }
        SET_DOWN => {
            let [w, x, y, z] = *elem.key else {
                return Err(bad(format!("a key of {} bytes", elem.key.len())));
            };
            state.down.insert(Ipv4Addr::new(w, x, y, z), bytes);
        }
        SET_FREE => {
            let [w, x, y, z] = *elem.key else {
                return Err(bad(format!("a key of {} bytes", elem.key.len())));
            };
            state.free.insert(Ipv4Addr::new(w, x, y, z), bytes);
        }
        SET_CAT_BYTES => {
            // Named by their comment (`cat_video_down`); others are not ours.
            if let Some((id, dir)) = elem.comment.and_then(categories::parse_counter_name) {
                let entry = state.categories.entry(id.to_owned()).or_default();
                match dir {
                    Direction::Download => entry.0 = bytes,
                    Direction::Upload => entry.1 = bytes,
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// How one set's dump ended.
#[derive(Debug, PartialEq, Eq)]
enum Dump {
    Complete,
    /// No such table or set (ENOENT).
    Missing,
    /// The kernel flagged the dump as interrupted: the set changed meanwhile.
    Interrupted,
}

/// An `AF_NETLINK`/`NETLINK_NETFILTER` socket, closed when dropped.
struct Socket(OwnedFd);

impl Socket {
    fn open() -> Result<Socket, NetlinkError> {
        // SAFETY: a plain syscall on integers; the descriptor is owned by
        // the OwnedFd from here on.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(NetlinkError::Socket(io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(Socket(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The ruleset's generation (`NFT_MSG_GETGEN`).
    fn generation(&self, seq: u32, buf: &mut [u8]) -> Result<u32, NetlinkError> {
        const WHAT: &str = "the generation";
        let bad = |what: String| NetlinkError::Format { set: WHAT, what };
        let mut msg = header(NFT_MSG_GETGEN, libc::NLM_F_REQUEST as u16, seq, 0);
        finish(&mut msg);
        self.send(&msg)?;
        loop {
            let n = self.recv(buf)?;
            for msg in Messages(&buf[..n]) {
                let msg = msg.map_err(bad)?;
                if msg.seq != seq {
                    continue;
                }
                if msg.kind == libc::NLMSG_ERROR as u16 {
                    match errno(&msg).map_err(bad)? {
                        0 => continue, // an acknowledgement
                        e => {
                            return Err(NetlinkError::Refused {
                                set: WHAT,
                                source: io::Error::from_raw_os_error(e),
                            })
                        }
                    }
                }
                if msg.kind == NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWGEN {
                    let attrs = msg.payload.get(NFGENMSG_LEN..).unwrap_or_default();
                    let id = find(attrs, NFTA_GEN_ID).map_err(bad)?;
                    let id: [u8; 4] = id
                        .and_then(|id| id.try_into().ok())
                        .ok_or_else(|| bad("no generation id".into()))?;
                    return Ok(u32::from_be_bytes(id));
                }
            }
        }
    }

    /// Dump `set`'s elements, handing each to `each`.
    fn dump(
        &self,
        table: &str,
        set: &'static str,
        seq: u32,
        buf: &mut [u8],
        mut each: impl FnMut(Elem<'_>) -> Result<(), NetlinkError>,
    ) -> Result<Dump, NetlinkError> {
        self.send(&request(table, set, seq))?;
        let mut interrupted = false;
        loop {
            let n = self.recv(buf)?;
            for msg in Messages(&buf[..n]) {
                let msg = msg.map_err(|what| NetlinkError::Format { set, what })?;
                if msg.seq != seq {
                    continue; // not an answer to this request
                }
                interrupted |= msg.flags & libc::NLM_F_DUMP_INTR as u16 != 0;
                match msg.kind {
                    t if t == libc::NLMSG_DONE as u16 => {
                        return Ok(if interrupted {
                            Dump::Interrupted
                        } else {
                            Dump::Complete
                        });
                    }
                    t if t == libc::NLMSG_ERROR as u16 => {
                        let errno =
                            errno(&msg).map_err(|what| NetlinkError::Format { set, what })?;
                        match errno {
                            0 => {} // an acknowledgement
                            libc::ENOENT => return Ok(Dump::Missing),
                            e => {
                                return Err(NetlinkError::Refused {
                                    set,
                                    source: io::Error::from_raw_os_error(e),
                                })
                            }
                        }
                    }
                    t if t == (NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM) => {
                        elements(msg.payload, set, &mut each)?;
                    }
                    _ => {} // NLMSG_NOOP and the like
                }
            }
        }
    }

    fn send(&self, msg: &[u8]) -> Result<(), NetlinkError> {
        // The kernel's address: family AF_NETLINK, port 0.
        // SAFETY: all-zero is a valid sockaddr_nl.
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `msg` and `kernel` outlive the call, their sizes are passed.
        let sent = unsafe {
            libc::sendto(
                self.0.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(NetlinkError::Io {
                what: "send",
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// One datagram: one or more netlink messages. MSG_TRUNC makes the
    /// kernel say a datagram's whole length, so a cut one is an error, not
    /// silently fewer elements.
    fn recv(&self, buf: &mut [u8]) -> Result<usize, NetlinkError> {
        loop {
            // A kernel that never answers must not hold the pass forever.
            // (poll's timeout is an int of milliseconds: no `timeval`,
            // whose layout differs between 32-bit musl and the libc crate.)
            let mut ready = libc::pollfd {
                fd: self.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd, ours, for the duration of the call.
            match unsafe { libc::poll(&mut ready, 1, TIMEOUT_MS) } {
                0 => {
                    return Err(NetlinkError::Io {
                        what: "recv",
                        source: io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("no answer within {TIMEOUT_MS} ms"),
                        ),
                    })
                }
                n if n < 0 => {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(NetlinkError::Io {
                        what: "poll",
                        source: e,
                    });
                }
                _ => {}
            }
            // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
            let n = unsafe {
                libc::recv(
                    self.0.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(NetlinkError::Io {
                    what: "recv",
                    source: e,
                });
            }
            let n = n as usize;
            if n > buf.len() {
                return Err(NetlinkError::Io {
                    what: "recv",
                    source: io::Error::other(format!(
                        "a {n}-byte answer for a {}-byte buffer",
                        buf.len()
                    )),
                });
            }
            return Ok(n);
        }
    }
}

/// `NFT_MSG_GETSETELEM` dump of `inet <table> <set>`.
fn request(table: &str, set: &str, seq: u32) -> Vec<u8> {
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    let mut msg = header(NFT_MSG_GETSETELEM, flags, seq, NFPROTO_INET);
    put_string(&mut msg, NFTA_SET_ELEM_LIST_TABLE, table);
    put_string(&mut msg, NFTA_SET_ELEM_LIST_SET, set);
    finish(&mut msg);
    msg
}

/// An nf_tables message's headers, its length left for [`finish`].
fn header(command: u16, flags: u16, seq: u32, family: u8) -> Vec<u8> {
    let mut msg = Vec::with_capacity(64);
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&(NFNL_SUBSYS_NFTABLES << 8 | command).to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    msg.extend_from_slice(&[family, 0, 0, 0]); // nfgenmsg: family, version 0, res_id 0
    msg
}

/// Write the message's length into its header.
fn finish(msg: &mut [u8]) {
    let len = msg.len() as u32;
    msg[0..4].copy_from_slice(&len.to_ne_bytes());
}

/// The errno of an `NLMSG_ERROR` message (0 for an acknowledgement).
fn errno(msg: &Message<'_>) -> Result<i32, String> {
    match msg.payload.get(..4) {
        Some(&[a, b, c, d]) => Ok(-i32::from_ne_bytes([a, b, c, d])),
        _ => Err("a short error message".into()),
    }
}

/// A NUL-terminated string attribute, padded to 4 bytes.
fn put_string(msg: &mut Vec<u8>, kind: u16, value: &str) {
    let len = (4 + value.len() + 1) as u16;
    msg.extend_from_slice(&len.to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(value.as_bytes());
    msg.push(0);
    while msg.len() % 4 != 0 {
        msg.push(0);
    }
}

/// One netlink message of a datagram.
struct Message<'a> {
    kind: u16,
    flags: u16,
    seq: u32,
    payload: &'a [u8],
}

/// The messages of one datagram.
struct Messages<'a>(&'a [u8]);

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let rest = self.0;
        let word =
            |at: usize| u32::from_ne_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]]);
        let half = |at: usize| u16::from_ne_bytes([rest[at], rest[at + 1]]);
        let len = if rest.len() >= NLMSG_HDRLEN {
            word(0) as usize
        } else {
            0
        };
        if len < NLMSG_HDRLEN || len > rest.len() {
            self.0 = &[];
            return Some(Err(format!(
                "a message of {len} bytes in {} left",
                rest.len()
            )));
        }
        let msg = Message {
            kind: half(4),
            flags: half(6),
            seq: word(8),
            payload: &rest[NLMSG_HDRLEN..len],
        };
        self.0 = &rest[align(len).min(rest.len())..];
        Some(Ok(msg))
    }
}

/// Netlink's 4-byte alignment.
fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// The attributes of one message or nest: (type without flags, payload).
struct Attrs<'a>(&'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let rest = self.0;
        let len = if rest.len() >= 4 {
            u16::from_ne_bytes([rest[0], rest[1]]) as usize
        } else {
            0
        };
        if len < 4 || len > rest.len() {
            self.0 = &[];
            return Some(Err(format!(
                "an attribute of {len} bytes in {} left",
                rest.len()
            )));
        }
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & libc::NLA_TYPE_MASK as u16;
        self.0 = &rest[align(len).min(rest.len())..];
        Some(Ok((kind, &rest[4..len])))
    }
}

/// The first attribute of type `kind` in `data`.
fn find(data: &[u8], kind: u16) -> Result<Option<&[u8]>, String> {
    for attr in Attrs(data) {
        let (k, value) = attr?;
        if k == kind {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

/// The elements of one `NFT_MSG_GETSETELEM` answer, each handed to `each`.
fn elements(
    payload: &[u8],
    set: &'static str,
    each: &mut impl FnMut(Elem<'_>) -> Result<(), NetlinkError>,
) -> Result<(), NetlinkError> {
    let bad = |what: String| NetlinkError::Format { set, what };
    let attrs = payload
        .get(NFGENMSG_LEN..)
        .ok_or_else(|| bad("a message without its nfgenmsg".into()))?;
    let Some(list) = find(attrs, NFTA_SET_ELEM_LIST_ELEMENTS).map_err(bad)? else {
        return Ok(());
    };
    for item in Attrs(list) {
        let (kind, nest) = item.map_err(bad)?;
        if kind == NFTA_LIST_ELEM {
            each(element(nest).map_err(bad)?)?;
        }
    }
    Ok(())
}

/// One `NFTA_LIST_ELEM`: its key, its counter's bytes, its comment.
fn element(nest: &[u8]) -> Result<Elem<'_>, String> {
    let mut elem = Elem::default();
    let mut has_key = false;
    for attr in Attrs(nest) {
        let (kind, value) = attr?;
        match kind {
            NFTA_SET_ELEM_KEY => {
                elem.key = find(value, NFTA_DATA_VALUE)?.ok_or("a key without its value")?;
                has_key = true;
            }
            NFTA_SET_ELEM_EXPR => elem.bytes = elem.bytes.or(counter(value)?),
            NFTA_SET_ELEM_EXPRESSIONS => {
                for expr in Attrs(value) {
                    let (k, expr) = expr?;
                    if k == NFTA_LIST_ELEM {
                        elem.bytes = elem.bytes.or(counter(expr)?);
                    }
                }
            }
            NFTA_SET_ELEM_USERDATA => elem.comment = comment(value),
            _ => {}
        }
    }
    if !has_key {
        return Err("an element without a key".into());
    }
    Ok(elem)
}

/// A `counter` expression's byte count; `None` for any other expression.
fn counter(expr: &[u8]) -> Result<Option<u64>, String> {
    let name = find(expr, NFTA_EXPR_NAME)?.unwrap_or_default();
    if name.strip_suffix(b"\0").unwrap_or(name) != b"counter" {
        return Ok(None);
    }
    let data = find(expr, NFTA_EXPR_DATA)?.ok_or("a counter without data")?;
    let bytes = find(data, NFTA_COUNTER_BYTES)?.ok_or("a counter without bytes")?;
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| format!("a counter of {} bytes", bytes.len()))?;
    Ok(Some(u64::from_be_bytes(bytes)))
}

/// The comment in an element's user data (libnftnl TLVs: type, length, value).
fn comment(mut data: &[u8]) -> Option<&str> {
    while let [kind, len, rest @ ..] = data {
        let value = rest.get(..usize::from(*len))?;
        if *kind == UDATA_COMMENT {
            let text = value.strip_suffix(b"\0").unwrap_or(value);
            return std::str::from_utf8(text).ok();
        }
        data = &rest[usize::from(*len)..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An attribute, as the kernel writes one.
    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut a = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(value);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    fn nested(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
        attr(kind | libc::NLA_F_NESTED as u16, &parts.concat())
    }

    fn counter_expr(bytes: u64) -> Vec<u8> {
        let data = nested(
            NFTA_EXPR_DATA,
            &[
                attr(NFTA_COUNTER_BYTES, &bytes.to_be_bytes()),
                attr(2, &7u64.to_be_bytes()), // packets
            ],
        );
        [attr(NFTA_EXPR_NAME, b"counter\0"), data].concat()
    }

    #[test]
    fn an_element_gives_its_key_counter_and_comment() {
        let key = nested(
            NFTA_SET_ELEM_KEY,
            &[attr(NFTA_DATA_VALUE, &[10, 77, 0, 11])],
        );
        let expr = nested(NFTA_SET_ELEM_EXPR, &[counter_expr(4096)]);
        let udata = attr(NFTA_SET_ELEM_USERDATA, b"\x00\x0fcat_video_down\x00");
        let elem = [key.clone(), expr, udata].concat();
        assert_eq!(
            element(&elem).unwrap(),
            Elem {
                key: &[10, 77, 0, 11],
                bytes: Some(4096),
                comment: Some("cat_video_down"),
            }
        );
        // Kernels that list a set's expressions: NFTA_SET_ELEM_EXPRESSIONS.
        let listed = nested(
            NFTA_SET_ELEM_EXPRESSIONS,
            &[nested(NFTA_LIST_ELEM, &[counter_expr(99)])],
        );
        let elem = [key, listed].concat();
        assert_eq!(element(&elem).unwrap().bytes, Some(99));
        // Cut short: an error, never a made-up element.
        assert!(element(&elem[..elem.len() - 3]).is_err());
        assert!(element(&attr(NFTA_SET_ELEM_USERDATA, b"")).is_err());
    }

    #[test]
    fn keys_of_a_wrong_length_are_refused() {
        let mut state = KernelState::default();
        let online = Elem {
            key: &[2, 0x77, 0, 0, 0, 1, 0, 0, 10, 77, 0, 11],
            bytes: Some(180),
            comment: None,
        };
        add(&mut state, SET_ONLINE, online).unwrap();
        let key = DeviceKey {
            mac: "02:77:00:00:00:01".parse().unwrap(),
            ip: "10.77.0.11".parse().unwrap(),
        };
        assert_eq!(state.online[&key], 180);
        let short = Elem {
            key: &[10, 77, 0, 11],
            ..Elem::default()
        };
        assert!(matches!(
            add(&mut state, SET_ONLINE, short),
            Err(NetlinkError::Format { .. })
        ));
    }

    #[test]
    fn a_request_is_a_dump_of_one_set_of_our_table() {
        let msg = request(TABLE, "online", 7);
        assert_eq!(msg.len() % 4, 0);
        let parsed: Vec<_> = Messages(&msg).collect::<Result<_, _>>().unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].seq, 7);
        assert_eq!(parsed[0].kind, 10 << 8 | 13);
        let attrs: Vec<_> = Attrs(&parsed[0].payload[NFGENMSG_LEN..])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            attrs,
            vec![
                (NFTA_SET_ELEM_LIST_TABLE, &b"desawifi\0"[..]),
                (NFTA_SET_ELEM_LIST_SET, &b"online\0"[..])
            ]
        );
    }
}
