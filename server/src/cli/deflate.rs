//! The permessage-deflate flags (RFC 7692), a group of their own.

use wsbench_proto::deflate::ServerPolicy;

/// permessage-deflate: off unless `--deflate`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "permessage-deflate (RFC 7692)")]
pub(crate) struct DeflateArgs {
    /// Accept permessage-deflate offers (the first valid one). Replies are
    /// compressed, however small; echo is then a copy, not zero-copy.
    /// Without --deflate-context-takeover, the response carries
    /// server_no_context_takeover and client_no_context_takeover, and the
    /// compression state is per thread, not per connection. Connections in
    /// mode broadcast decline it: their frames are encoded once for all.
    #[arg(long)]
    pub(crate) deflate: bool,

    /// Keep each connection's compression window from message to message
    /// (better ratio; about 340 KB more memory per connection, see
    /// docs/deflate.md). Needs --deflate.
    #[arg(long, requires = "deflate")]
    pub(crate) deflate_context_takeover: bool,
}

impl DeflateArgs {
    /// The server's policy, `None` when off.
    pub(crate) fn policy(&self) -> Option<ServerPolicy> {
        self.deflate.then_some(ServerPolicy { context_takeover: self.deflate_context_takeover })
    }
}
