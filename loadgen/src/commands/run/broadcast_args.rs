//! `run`'s broadcast flag (`--topic-size`), checked against `--mode` and
//! `--connections` into the result's `topic_size`.

use clap::Args;

use super::RunArgs;
use crate::engine::protocol::ReplyMode;
use crate::error::Error;

/// `--mode broadcast`'s grouping of connections into topics.
#[derive(Debug, Args)]
#[command(next_help_heading = "Broadcast (--mode broadcast)")]
pub struct BroadcastArgs {
    /// Members per topic: connection i joins topic i / N (query `topic`,
    /// unique to the run), and every message a member sends is expected at
    /// every member of its topic, itself included. At most --connections;
    /// when --connections is not a multiple of N, the last topic has fewer
    /// members. Default with --mode broadcast: one topic of every connection.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub topic_size: Option<u32>,
}

/// The topic size the flags ask for: `None` unless the mode is broadcast
/// (`--mode broadcast`, or `mode=broadcast` in the URL).
pub(super) fn topic_size(args: &RunArgs) -> Result<Option<u32>, Error> {
    let in_url = args.url.as_deref().and_then(|u| u.parse::<http::Uri>().ok()).is_some_and(|uri| {
        uri.query().is_some_and(|q| q.split('&').any(|p| p == format!("mode={}", ReplyMode::Broadcast)))
    });
    let broadcast = args.mode == Some(ReplyMode::Broadcast) || (args.mode.is_none() && in_url);
    if broadcast && (!args.message.is_empty() || args.message_file.is_some()) {
        return Err(Error::usage("--message with mode broadcast: deliveries are checked by wsbench's own stamp"));
    }
    let churn = &args.churn;
    if broadcast && (churn.conn_lifetime.is_some() || churn.messages_per_conn.is_some() || churn.reconnect) {
        return Err(Error::usage(
            "--conn-lifetime, --messages-per-conn and --reconnect with mode broadcast: a topic's delivery book follows one connection per member for the whole run",
        ));
    }
    if broadcast && args.deflate.deflate {
        return Err(Error::usage(
            "--deflate with mode broadcast: a broadcast frame is encoded once for every member, uncompressed (the server does not negotiate deflate on broadcast connections)",
        ));
    }
    match args.broadcast.topic_size {
        Some(n) if !broadcast => {
            Err(Error::usage(format!("--topic-size {n} needs --mode broadcast: topics exist only in that mode")))
        }
        Some(n) if n > args.connections => Err(Error::usage(format!(
            "--topic-size {n} is larger than --connections {}: a topic cannot have more members than there are connections",
            args.connections
        ))),
        Some(n) => Ok(Some(n)),
        None => Ok(broadcast.then_some(args.connections)),
    }
}

/// Worker threads for `threads` asked: no more than topics, since a
/// topic's members share one thread.
pub(super) fn threads(threads: usize, topic_size: Option<u32>, connections: u32) -> usize {
    topic_size.map_or(threads, |n| threads.min(connections.div_ceil(n) as usize).max(1))
}
