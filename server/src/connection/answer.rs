//! Answering a whole message: from where it lies in the read buffer, or
//! from the reassembly buffer once its last fragment is in; published
//! instead in mode `broadcast`.

use std::ops::Range;

use tokio::io::{AsyncRead, AsyncWrite};
use wsbench_proto::{echo_in_place, MessageKind};

use super::buffers::{MIN_READ, OUT_OF_MEMORY};
use super::{Closing, Connection, Source, JSON_WHOLE};
use crate::mode::ReplyMode;
use crate::reply::Payload;

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Answers a single-frame message, from where it lies in the read buffer.
    pub(super) fn on_message(
        &mut self,
        kind: MessageKind,
        frame_start: usize,
        payload: Range<usize>,
    ) -> Result<(), Closing> {
        if self.publish(kind, &self.buf[payload.clone()])? {
            self.answered(false, payload);
            return Ok(());
        }
        // Echo: the frame read becomes the frame sent, header and payload
        // one contiguous slice of the read buffer.
        let echoed = (self.responder.mode() == ReplyMode::Echo)
            .then(|| echo_in_place(&mut self.buf, frame_start, payload.clone()))
            .flatten();
        match echoed {
            Some(frame) => self.out.input_frame(frame.clone(), &self.buf[frame]),
            None if self.responder.mode() == ReplyMode::Json && payload.len() > JSON_WHOLE => {
                let json = self.responder.json_begin(&mut self.out, kind, &self.buf[payload.clone()]);
                self.json = Some(Box::new((json, Source::Input(payload.clone()))));
            }
            None => {
                self.charge_reply(payload.len())?;
                let bytes = &self.buf[payload.clone()];
                self.responder.respond(&mut self.out, kind, Payload::Input { bytes, range: payload.clone() });
            }
        }
        self.answered(false, payload);
        Ok(())
    }

    /// Adds a fragment to the message in progress, and answers the message
    /// once it is whole. The reassembly buffer grows with what arrives.
    pub(super) fn on_fragment(
        &mut self,
        kind: MessageKind,
        first: bool,
        fin: bool,
        part: Range<usize>,
    ) -> Result<(), Closing> {
        if first {
            self.assembly.clear();
        }
        let need = self.assembly.len() + part.len();
        if need > self.assembly.capacity() {
            // Doubling, but charged before it is allocated, exactly.
            let grown = need.max(self.assembly.capacity() * 2).min(self.limits.max_message_size).max(need);
            self.charge_to(self.held() - self.assembly.capacity() + grown)?;
            self.assembly.try_reserve_exact(grown - self.assembly.len()).map_err(|_| OUT_OF_MEMORY)?;
        }
        self.assembly.extend_from_slice(&self.buf[part]);
        if fin {
            let len = self.assembly.len();
            if self.publish(kind, &self.assembly)? {
                // Published: nothing to answer.
            } else if self.responder.mode() == ReplyMode::Json && len > JSON_WHOLE {
                let json = self.responder.json_begin(&mut self.out, kind, &self.assembly);
                self.json = Some(Box::new((json, Source::Assembly)));
            } else {
                self.charge_reply(len)?;
                self.responder.respond(&mut self.out, kind, Payload::Aside(&self.assembly));
            }
            self.answered(true, 0..len);
        }
        Ok(())
    }

    /// Charges the reply to a `len`-byte message to the memory budget
    /// before it is built (json replies can be several times the message).
    pub(super) fn charge_reply(&mut self, len: usize) -> Result<(), Closing> {
        let bound = self.responder.reply_bound(len);
        if bound > MIN_READ {
            self.charge_to(self.held() + bound)?;
        }
        Ok(())
    }

    pub(super) fn answered(&mut self, reassembled: bool, range: Range<usize>) {
        self.batch_messages += 1;
        self.last_answered = Some((reassembled, range));
    }
}
