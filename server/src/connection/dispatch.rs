//! The frame loop: the whole frames in the read buffer, each decoded and
//! answered, or in mode `echo` a run of them echoed in one pass.

use tokio::io::{AsyncRead, AsyncWrite};
use wsbench_proto::{EchoBudget, Event, OpCode, ProtocolError};

use super::{Closing, Connection, Progress, Source, DECODED_COST, WAKE_BUDGET};
use crate::mode::ReplyMode;

impl From<ProtocolError> for Closing {
    fn from(e: ProtocolError) -> Self {
        Closing::Fail { code: e.close_code(), reason: e.reason() }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Handles the whole frames in the buffer (within [`WAKE_BUDGET`], and
    /// no more once the queued replies pass `max_backpressure`), and
    /// lets the decoder check what has arrived of the incomplete one after
    /// them. `Err` ends the reading.
    pub(super) fn process(&mut self) -> Result<Progress, Closing> {
        if let Some(pending) = &mut self.json {
            let (json, source) = &mut **pending;
            let message = match source {
                Source::Input(range) => &self.buf[range.clone()],
                Source::Assembly => &self.assembly,
            };
            if !json.write(&mut self.out, message, self.limits.max_backpressure) {
                return Ok(Progress::More);
            }
            self.json = None;
        }
        let echo = self.responder.mode() == ReplyMode::Echo && self.deflate.is_none();
        let mut spent = 0;
        while spent < WAKE_BUDGET {
            if self.out.len() >= self.limits.max_backpressure || self.json.is_some() || self.published_enough() {
                return Ok(Progress::More);
            }
            if echo {
                let echoed = self.echo_run(WAKE_BUDGET - spent)?;
                if echoed > 0 {
                    spent += echoed;
                    continue;
                }
            }
            spent += DECODED_COST;
            let frame = match self.decoder.decode(&mut self.buf[self.start..]) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(Progress::NeedInput),
                Err(e) => return Err(e.into()),
            };
            let frame_start = self.start;
            let payload = frame_start + frame.payload.start..frame_start + frame.payload.end;
            self.start += frame.len;
            self.clock.frame_done(self.decoder.in_message());
            match frame.event {
                Event::Data { kind, first, fin } if self.deflate.is_some() => {
                    self.on_deflate_data(kind, first, fin, payload)?
                }
                Event::Data { kind, first: true, fin: true } => self.on_message(kind, frame_start, payload)?,
                Event::Data { kind, first, fin } => {
                    self.on_fragment(kind, first, fin, payload)?;
                    if fin {
                        // The replies refer to the reassembly buffer: they
                        // go out before the next message can reuse it.
                        return Ok(Progress::More);
                    }
                }
                Event::Ping => self.out.frame(OpCode::Pong, &self.buf[payload]),
                Event::Pong => {}
                Event::Close { code, .. } => return Err(Closing::Answer(code)),
            }
        }
        Ok(Progress::More)
    }

    /// Echoes the run of whole single-frame messages at the input, at most
    /// `messages`, each written unmasked right after the one before, from
    /// where the run starts ([`wsbench_proto::Decoder::echo_whole`]), and
    /// queues them as one slice of the read buffer. Returns how many it
    /// echoed; the frame after them is the decoder's. A bad frame after them
    /// fails the connection once they are sent.
    ///
    /// The echoes overwrite only the input the run consumed: every reply
    /// queued before refers to bytes before it (the outbox is flushed
    /// before each [`process`](Self::process), and a frame decoded in this
    /// one lies before `start`), so no queued reply can be overwritten.
    fn echo_run(&mut self, messages: usize) -> Result<usize, Closing> {
        let budget = EchoBudget { messages, bytes: self.limits.max_backpressure - self.out.len() };
        let at = self.start;
        let run = self.decoder.echo_whole(&mut self.buf, at, at, budget);
        if run.messages > 0 {
            self.out.input_frames(at..run.written_to, run.messages);
            self.start = run.read_to;
            self.clock.frame_done(false);
            self.batch_messages += run.messages as u64;
            self.last_answered = run.last_payload.map(|payload| (false, payload));
        }
        match run.error {
            Some(e) => Err(e.into()),
            None => Ok(run.messages),
        }
    }
}
