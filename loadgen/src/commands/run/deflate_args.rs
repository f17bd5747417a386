//! `run`'s permessage-deflate flags (RFC 7692), a group of their own.

use crate::error::Error;
use crate::results::deflate::DeflateOffer;
use clap::Args;

/// The group's heading in `--help`, set on each flag: flattened among
/// the API flags, a `next_help_heading` on the struct was not applied.
const HEADING: &str = "permessage-deflate (RFC 7692)";

/// `--deflate` and what goes with it.
#[derive(Debug, Clone, Args)]
pub struct DeflateArgs {
    /// Offer permessage-deflate (with client_max_window_bits): messages are
    /// compressed, replies inflated and checked as usual, and the result
    /// gets payload against wire bytes each way and the loadgen's CPU per
    /// message. A server that declines it stops the run before it starts;
    /// not with --message, nor with mode broadcast (whose frames go out
    /// uncompressed).
    #[arg(long, help_heading = HEADING)]
    pub deflate: bool,

    /// Also ask for server_no_context_takeover and
    /// client_no_context_takeover (no window kept between messages).
    #[arg(long, requires = "deflate", help_heading = HEADING)]
    pub deflate_no_context_takeover: bool,

    /// The filler after each message's stamp: `compressible` (a short
    /// repeating pattern, as always) or `random` (random bytes with
    /// --type binary, which do not compress; random alphanumerics with
    /// text, which deflate takes to about 3/4). With or without --deflate.
    #[arg(long, value_enum, default_value_t = PayloadArg::Compressible, help_heading = HEADING)]
    pub payload: PayloadArg,
}

/// `--payload`: a short repeating pattern, or pseudo-random (seeded per
/// connection). No doc comments on the variants: see `MessageTypeArg`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PayloadArg {
    Compressible,
    Random,
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
