//! `run`'s permessage-deflate flags (RFC 7692), a group of their own.

use crate::error::Error;
use crate::results::deflate::DeflateOffer;
use clap::Args;

/// `--deflate` and what goes with it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "permessage-deflate (RFC 7692)")]
pub struct DeflateArgs {
    /// Offer permessage-deflate (with client_max_window_bits): messages are
    /// compressed, replies inflated and checked as usual, and the result
    /// gets payload against wire bytes each way and the loadgen's CPU per
    /// message. A server that declines it stops the run before it starts.
    #[arg(long)]
    pub deflate: bool,

    /// Also ask for server_no_context_takeover and
    /// client_no_context_takeover (no window kept between messages).
    #[arg(long, requires = "deflate")]
    pub deflate_no_context_takeover: bool,
}

impl DeflateArgs {
    /// The offer, `None` without `--deflate`; `api` is whether `--message`
    /// is given, which `--deflate` does not support.
    pub(super) fn offer(&self, api: bool) -> Result<Option<DeflateOffer>, Error> {
        if !self.deflate {
            return Ok(None);
        }
        if api {
            return Err(Error::usage("--deflate works with wsbench's own messages only, not with --message"));
        }
        Ok(Some(DeflateOffer::new(self.deflate_no_context_takeover)))
    }
}
