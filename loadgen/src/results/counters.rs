//! Everything a run counts, summed over workers: connections, messages,
//! bytes, and errors by kind.
//!
//! Each error family has a kind enum ([`ConnectErrorKind`],
//! [`ConnectionErrorKind`], [`ReplyErrorKind`]) with an `ALL` list, the JSON
//! field name and the report's label: code that counts, adds up or prints
//! errors walks `ALL` instead of listing the fields again, so a new kind is
//! one variant and one field. The structs keep one named field per kind
//! because they are the JSON schema (and readers use the fields by name).

use super::deflate::{add_deflate, DeflateCounters};
use std::collections::BTreeMap;
use std::ops::{Index, IndexMut};

use serde::{Deserialize, Serialize};

/// Declares an error-kind enum and the counter struct it indexes: the one
/// place where a kind, its field, its JSON name and its label are tied.
macro_rules! error_kinds {
    (
        $(#[$kind_doc:meta])* $kind:ident for $counts:ident {
            $($(#[$doc:meta])* $variant:ident => $field:ident, $label:literal;)+
        }
    ) => {
        $(#[$kind_doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $kind {
            $($(#[$doc])* $variant,)+
        }

        impl $kind {
            /// Every kind, in the order the report lists them.
            pub const ALL: &'static [$kind] = &[$($kind::$variant,)+];

            /// The JSON field of this kind's counter.
            pub fn name(self) -> &'static str {
                match self {
                    $($kind::$variant => stringify!($field),)+
                }
            }

            /// How the report names this kind.
            pub fn label(self) -> &'static str {
                match self {
                    $($kind::$variant => $label,)+
                }
            }
        }

        impl Index<$kind> for $counts {
            type Output = u64;
            fn index(&self, kind: $kind) -> &u64 {
                match kind {
                    $($kind::$variant => &self.$field,)+
                }
            }
        }

        impl IndexMut<$kind> for $counts {
            fn index_mut(&mut self, kind: $kind) -> &mut u64 {
                match kind {
                    $($kind::$variant => &mut self.$field,)+
                }
            }
        }
    };
}

error_kinds! {
    /// Why a connection could not be opened (an HTTP status instead of 101
    /// is counted by status, in [`ConnectErrors::http_status`]).
    ConnectErrorKind for ConnectErrors {
        /// Connection refused.
        Refused => refused, "connect refused";
        /// TCP connect, TLS and upgrade took longer than `--connect-timeout`.
        Timeout => timeout, "connect timeout";
        /// Out of source ports, addresses or descriptors.
        Resources => resources, "out of ports/descriptors";
        /// The TLS handshake failed.
        Tls => tls, "TLS";
        /// A malformed or wrong upgrade response.
        BadHandshake => bad_handshake, "bad handshake";
        /// The init exchange (`--init`, `--init-expect`) failed.
        Init => init, "init failed";
        /// Any other failure.
        Other => other, "connect other";
    }
}

error_kinds! {
    /// How an open connection ended badly.
    ConnectionErrorKind for ConnectionErrors {
        /// The server sent a close frame before the run ended.
        ClosedByServer => closed_by_server, "closed by server";
        /// The TCP connection ended without a close frame.
        Eof => eof, "connection lost (no close frame)";
        /// A frame from the server broke RFC 6455.
        Protocol => protocol, "protocol error";
        /// Read or write failed.
        Io => io, "I/O error";
        /// The closing handshake got no answer in time.
        CloseTimeout => close_timeout, "close handshake timeout";
    }
}

error_kinds! {
    /// How a reply (or the lack of one) was wrong.
    ReplyErrorKind for ReplyErrors {
        /// Not received by the end of the drain timeout.
        Missing => missing, "missing replies";
        /// Not the reply the mode prescribes.
        Corrupt => corrupt, "corrupt replies";
        /// A second reply to the same message.
        Duplicate => duplicate, "duplicate replies";
        /// A reply before the reply to an earlier message.
        OutOfOrder => out_of_order, "out-of-order replies";
        /// Open loop: due in the window, never sent.
        Unsent => unsent, "messages due but never sent";
        /// A message answering no request in flight, with `--unsolicited error`.
        Unsolicited => unsolicited, "unsolicited messages";
    }
}

/// Connections that could not be opened, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectErrors {
    /// Connection refused.
    pub refused: u64,
    /// Past `--connect-timeout`.
    pub timeout: u64,
    /// No source port or address left (EADDRNOTAVAIL, EADDRINUSE), or descriptors (EMFILE).
    pub resources: u64,
    /// The TLS handshake failed.
    pub tls: u64,
    /// The server answered the upgrade with this HTTP status instead of 101.
    #[serde(deserialize_with = "super::setup::code_keys::deserialize")]
    pub http_status: BTreeMap<u16, u64>,
    /// A 101 with a wrong Sec-WebSocket-Accept or Upgrade, a malformed
    /// response, or a connection closed during the handshake.
    pub bad_handshake: u64,
    /// The init exchange failed: a reply not met by `--init-expect` in
    /// time, or the connection closed during it. 0 in results before it.
    #[serde(default)]
    pub init: u64,
    /// Any other failure.
    pub other: u64,
}

impl ConnectErrors {
    /// Every failed connection attempt.
    pub fn total(&self) -> u64 {
        sum(self, ConnectErrorKind::ALL) + self.http_status.values().sum::<u64>()
    }

    /// Adds `other`'s counts, exactly.
    pub fn add(&mut self, other: &ConnectErrors) {
        add(self, other, ConnectErrorKind::ALL);
        add_map(&mut self.http_status, &other.http_status);
    }
}

/// Replies that were not right, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyErrors {
    /// Not received by the end of the drain timeout (or the connection's end).
    pub missing: u64,
    /// Not the reply the mode prescribes to the message, or to no message sent.
    pub corrupt: u64,
    /// A second reply to the same message.
    pub duplicate: u64,
    /// A reply before the reply to an earlier message.
    pub out_of_order: u64,
    /// Open loop: messages due in the window that were never sent, because
    /// the connection could not send (the server stopped reading, or
    /// --pipeline was full) until the run ended. Exactly the messages a stall
    /// holds back: left out, they would hide it.
    #[serde(default)]
    pub unsent: u64,
    /// With `--unsolicited error`: messages that answered no request in
    /// flight (`Counters::unsolicited_total`, then errors too). 0 otherwise,
    /// and in results before it.
    #[serde(default)]
    pub unsolicited: u64,
}

impl ReplyErrors {
    /// Every bad or missing reply.
    pub fn total(&self) -> u64 {
        sum(self, ReplyErrorKind::ALL)
    }
}

/// Open connections that ended badly, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionErrors {
    /// The server sent a close frame before the run ended.
    pub closed_by_server: u64,
    /// The TCP connection ended without a close frame.
    pub eof: u64,
    /// A frame from the server broke RFC 6455.
    pub protocol: u64,
    /// Read or write failed (reset, ...).
    pub io: u64,
    /// The closing handshake at the end got no answer in time.
    pub close_timeout: u64,
}

impl ConnectionErrors {
    /// Every connection that ended badly.
    pub fn total(&self) -> u64 {
        sum(self, ConnectionErrorKind::ALL)
    }
}

fn sum<C: Index<K, Output = u64>, K: Copy>(counts: &C, kinds: &[K]) -> u64 {
    kinds.iter().map(|&k| counts[k]).sum()
}

fn add<C: IndexMut<K, Output = u64>, K: Copy>(a: &mut C, b: &C, kinds: &[K]) {
    for &k in kinds {
        a[k] += b[k];
    }
}

/// Adds `b`'s counts to `a`'s, key by key.
pub(super) fn add_map<K: Ord + Clone>(a: &mut BTreeMap<K, u64>, b: &BTreeMap<K, u64>) {
    for (k, v) in b {
        *a.entry(k.clone()).or_default() += v;
    }
}

/// Everything counted, summed over workers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Connections tried.
    pub connections_attempted: u64,
    /// Connections upgraded.
    pub connections_opened: u64,
    /// Connections that could not be opened.
    pub connect_errors: ConnectErrors,
    /// Open connections that ended badly.
    pub connection_errors: ConnectionErrors,
    /// Replies that were wrong or missing.
    pub reply_errors: ReplyErrors,
    /// Close codes received from the server (1005: a close frame without code).
    pub close_codes: BTreeMap<u16, u64>,
    /// Messages whose intended send time fell in the measured window.
    pub messages_sent: u64,
    /// Replies to those messages that checked (late ones included).
    pub messages_received: u64,
    /// Replies that checked and arrived in the measured window, to
    /// messages meant to go whenever: the throughput (received msg/s). Not
    /// `messages_received`, whose replies may come in the drain: a
    /// saturated server would seem to keep up. 0 in results before it.
    #[serde(default)]
    pub replies_in_window: u64,
    /// Wire bytes written and read in the measured window.
    pub bytes_sent: u64,
    /// See `bytes_sent`.
    pub bytes_received: u64,
    /// Every phase (ramp, warmup, measure, drain).
    pub messages_sent_total: u64,
    /// See `messages_sent_total`.
    pub replies_received_total: u64,
    /// Nanoseconds that connections spent, added up, with a write the
    /// socket would not take (the server's TCP window full: pushback).
    /// Absent from results written before it (read as 0).
    #[serde(default)]
    pub send_blocked_ns: u64,
    /// With `--message`: messages from the server that answered no request
    /// in flight (pushes, notifications, or replies `--match` cannot read),
    /// received in the measured window. Not errors unless `--unsolicited
    /// error`. 0 in results before it.
    #[serde(default)]
    pub unsolicited: u64,
    /// See `unsolicited`: every phase.
    #[serde(default)]
    pub unsolicited_total: u64,
    /// Replies that came after their message was given up as missing
    /// (later than `--drain-timeout`), every phase: late, not duplicates.
    /// Their messages stay counted missing; their RTTs are in the
    /// histograms. 0 in results before it.
    #[serde(default)]
    pub late_replies: u64,
    /// With `--subprotocol`: connections by the subprotocol the server
    /// picked; `""` when it picked none. Absent otherwise.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub subprotocols: BTreeMap<String, u64>,
    /// With `--deflate`: what compression did (see [`DeflateCounters`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deflate: Option<DeflateCounters>,
}

impl Counters {
    /// Every error of every family.
    pub fn errors(&self) -> u64 {
        self.connect_errors.total() + self.connection_errors.total() + self.reply_errors.total()
    }

    /// Connections that failed: could not be opened, or ended badly once
    /// open. What `--max-connect-errors` bounds, as a count.
    pub fn connections_failed(&self) -> u64 {
        self.connect_errors.total() + self.connection_errors.total()
    }

    /// The messages of the run (all phases): sent, and due but never sent.
    pub fn messages_due(&self) -> u64 {
        self.messages_sent_total + self.reply_errors.unsent
    }

    /// The messages the error rate is over: every message due, and every
    /// message received that answered none of them (a duplicate, or with
    /// `--unsolicited error` an unsolicited one). Each of them fails at
    /// most once, so the rate stays within 100 % (over the messages due
    /// alone, 100 messages each answered twice beside 100 pushes were "200
    /// of 100 messages failed").
    pub fn messages_judged(&self) -> u64 {
        self.messages_due() + self.reply_errors.duplicate + self.reply_errors.unsolicited
    }

    /// Message errors (missing, corrupt, duplicate, out-of-order, unsent,
    /// and unsolicited when they are errors) over
    /// [`Counters::messages_judged`]: the rate `--max-error-rate` bounds.
    /// Failed connections are not in it: they are counted on their own
    /// ([`Counters::connections_failed`]), so that many messages cannot
    /// dilute them. 0 when no message was due.
    pub fn error_rate(&self) -> f64 {
        self.reply_errors.total() as f64 / self.messages_judged().max(1) as f64
    }

    /// Adds `o`'s counts to these, exactly.
    pub fn add(&mut self, o: &Counters) {
        self.connections_attempted += o.connections_attempted;
        self.connections_opened += o.connections_opened;
        self.connect_errors.add(&o.connect_errors);
        add(&mut self.connection_errors, &o.connection_errors, ConnectionErrorKind::ALL);
        add(&mut self.reply_errors, &o.reply_errors, ReplyErrorKind::ALL);
        add_map(&mut self.close_codes, &o.close_codes);
        self.messages_sent += o.messages_sent;
        self.messages_received += o.messages_received;
        self.replies_in_window += o.replies_in_window;
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.messages_sent_total += o.messages_sent_total;
        self.replies_received_total += o.replies_received_total;
        self.send_blocked_ns += o.send_blocked_ns;
        self.unsolicited += o.unsolicited;
        self.unsolicited_total += o.unsolicited_total;
        self.late_replies += o.late_replies;
        add_map(&mut self.subprotocols, &o.subprotocols);
        add_deflate(&mut self.deflate, &o.deflate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_name_their_json_fields() {
        let mut r = ReplyErrors::default();
        for (i, &k) in ReplyErrorKind::ALL.iter().enumerate() {
            r[k] = i as u64 + 1;
        }
        let json = serde_json::to_value(&r).unwrap();
        for (i, &k) in ReplyErrorKind::ALL.iter().enumerate() {
            assert_eq!(json[k.name()], i as u64 + 1, "{k:?}");
        }
        assert_eq!(json.as_object().unwrap().len(), ReplyErrorKind::ALL.len(), "every field has a kind");
        let c = serde_json::to_value(ConnectionErrors::default()).unwrap();
        assert_eq!(c.as_object().unwrap().len(), ConnectionErrorKind::ALL.len());
        let c = serde_json::to_value(ConnectErrors::default()).unwrap();
        assert_eq!(c.as_object().unwrap().len(), ConnectErrorKind::ALL.len() + 1, "and http_status");
        for &k in ConnectErrorKind::ALL {
            assert!(c.get(k.name()).is_some(), "{k:?}");
        }
    }

    #[test]
    fn adding_adds_every_kind() {
        let mut a = Counters::default();
        for &k in ConnectionErrorKind::ALL {
            a.connection_errors[k] = 1;
        }
        for &k in ConnectErrorKind::ALL {
            a.connect_errors[k] = 1;
        }
        a.connect_errors.http_status.insert(503, 2);
        a.unsolicited = 3;
        a.unsolicited_total = 4;
        a.subprotocols.insert(String::new(), 5);
        let mut b = a.clone();
        b.add(&a);
        assert_eq!((b.unsolicited, b.unsolicited_total, b.subprotocols[""]), (6, 8, 10));
        assert_eq!(b.connection_errors.total(), 2 * ConnectionErrorKind::ALL.len() as u64);
        assert_eq!(b.connect_errors.total(), 2 * (ConnectErrorKind::ALL.len() as u64 + 2));
        assert_eq!(b.errors(), 2 * a.errors());
    }
}
