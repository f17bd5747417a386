//! permessage-deflate in the result (`--deflate`): what was offered (in
//! the run's config) and what it did (in the counters): payload bytes
//! against wire bytes each way, the agreements the server answered, and
//! the loadgen's CPU per message. Every field adds up exactly in `merge`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wsbench_proto::deflate::DeflateParams;

/// `--deflate`: the offer sent in every upgrade request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeflateOffer {
    /// The `Sec-WebSocket-Extensions` value offered.
    pub offer: String,
    /// `--deflate-no-context-takeover`: both no-context-takeover
    /// parameters asked for.
    pub no_context_takeover: bool,
}

impl DeflateOffer {
    /// The offer of `--deflate`: `client_max_window_bits` (the loadgen
    /// takes any window the server sets), and with `no_context_takeover`
    /// both no-context-takeover parameters.
    pub fn new(no_context_takeover: bool) -> Self {
        let offer = Self::params_of(no_context_takeover).to_string();
        DeflateOffer { offer, no_context_takeover }
    }

    /// The offer's parameters.
    pub fn params(&self) -> DeflateParams {
        Self::params_of(self.no_context_takeover)
    }

    fn params_of(no_context_takeover: bool) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: no_context_takeover,
            client_no_context_takeover: no_context_takeover,
            server_max_window_bits: None,
            client_max_window_bits: Some(None),
        }
    }
}

/// What permessage-deflate did in the measured window, summed over
/// connections and workers (`counters.deflate`, with `--deflate` only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeflateCounters {
    /// Connections by the extension response the server gave, as the
    /// loadgen read it (parameters in RFC 7692 order).
    pub agreed: BTreeMap<String, u64>,
    /// Bytes of the messages sent, before compression.
    pub sent_payload_bytes: u64,
    /// Bytes of those messages' frame payloads on the wire, compressed.
    pub sent_wire_bytes: u64,
    /// Bytes of the replies received, once inflated.
    pub received_payload_bytes: u64,
    /// Bytes of those replies' frame payloads on the wire.
    pub received_wire_bytes: u64,
    /// Nanoseconds of CPU the loadgen's worker threads used in the
    /// measured window (compression, inflation and all the rest).
    pub loadgen_cpu_ns: u64,
}

impl DeflateCounters {
    /// Adds `o`'s counts to these, exactly.
    pub fn add(&mut self, o: &DeflateCounters) {
        for (k, v) in &o.agreed {
            *self.agreed.entry(k.clone()).or_default() += v;
        }
        self.sent_payload_bytes += o.sent_payload_bytes;
        self.sent_wire_bytes += o.sent_wire_bytes;
        self.received_payload_bytes += o.received_payload_bytes;
        self.received_wire_bytes += o.received_wire_bytes;
        self.loadgen_cpu_ns += o.loadgen_cpu_ns;
    }

    /// Wire bytes per payload byte sent (below 1: compression gained);
    /// `None` before anything was sent.
    pub fn sent_ratio(&self) -> Option<f64> {
        ratio(self.sent_wire_bytes, self.sent_payload_bytes)
    }

    /// Wire bytes per payload byte received.
    pub fn received_ratio(&self) -> Option<f64> {
        ratio(self.received_wire_bytes, self.received_payload_bytes)
    }

    /// The loadgen's CPU nanoseconds per message handled in the window
    /// (`messages` sent plus replies received).
    pub fn cpu_ns_per_message(&self, messages: u64) -> Option<f64> {
        (messages > 0).then(|| self.loadgen_cpu_ns as f64 / messages as f64)
    }

    /// The report's line.
    pub fn summary(&self, messages: u64) -> String {
        let show = |r: Option<f64>| r.map_or("n/a".to_string(), |r| format!("{r:.3}"));
        let cpu = self.cpu_ns_per_message(messages).map_or("n/a".to_string(), |ns| format!("{:.1} µs", ns / 1e3));
        let agreed: Vec<String> = self.agreed.iter().map(|(k, n)| format!("{k} ({n})")).collect();
        format!(
            "deflate: sent {} B payload as {} B on the wire (x{}), received {} B as {} B (x{}); loadgen CPU {cpu}/message; agreed: {}",
            self.sent_payload_bytes,
            self.sent_wire_bytes,
            show(self.sent_ratio()),
            self.received_payload_bytes,
            self.received_wire_bytes,
            show(self.received_ratio()),
            if agreed.is_empty() { "none".to_string() } else { agreed.join(", ") },
        )
    }
}

fn ratio(wire: u64, payload: u64) -> Option<f64> {
    (payload > 0).then(|| wire as f64 / payload as f64)
}

/// Adds `o` into `a`, either possibly absent.
pub fn add_deflate(a: &mut Option<DeflateCounters>, o: &Option<DeflateCounters>) {
    if let Some(o) = o {
        a.get_or_insert_with(Default::default).add(o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_sums_every_field_and_agreement() {
        let one = DeflateCounters {
            agreed: [("permessage-deflate".to_string(), 2)].into(),
            sent_payload_bytes: 100,
            sent_wire_bytes: 30,
            received_payload_bytes: 200,
            received_wire_bytes: 50,
            loadgen_cpu_ns: 7,
        };
        let mut sum = None;
        add_deflate(&mut sum, &Some(one.clone()));
        add_deflate(&mut sum, &None);
        add_deflate(&mut sum, &Some(one));
        let sum = sum.unwrap();
        assert_eq!(sum.agreed["permessage-deflate"], 4);
        assert_eq!(
            (sum.sent_payload_bytes, sum.sent_wire_bytes, sum.received_payload_bytes, sum.received_wire_bytes),
            (200, 60, 400, 100)
        );
        assert_eq!(sum.loadgen_cpu_ns, 14);
        assert_eq!(sum.sent_ratio(), Some(0.3));
        assert_eq!(sum.cpu_ns_per_message(7), Some(2.0));
    }
}
