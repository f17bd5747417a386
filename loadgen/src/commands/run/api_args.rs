//! `run`'s API flags (`--message`, `--match`, ...) checked into the
//! result's [`ApiConfig`]: everything the engine compiles is compiled here
//! once, so that a bad template or pattern is refused before the run, in
//! one line naming its flag (exit 2).

use super::RunArgs;
use crate::engine::api::ApiPlan;
use crate::error::Error;
use crate::results::setup::ApiConfig;

/// The API load the flags describe; `None` without `--message` (the other
/// API flags are then refused, as they would do nothing).
pub(super) fn api_config(args: &RunArgs) -> Result<Option<ApiConfig>, Error> {
    let mut messages = args.message.clone();
    if let Some(file) = &args.message_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::usage(format!("--message-file {}: {e}", file.display())))?;
        let lines: Vec<String> = text.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect();
        if lines.is_empty() {
            return Err(Error::usage(format!("--message-file {}: no template in it", file.display())));
        }
        messages.extend(lines);
    }
    if messages.is_empty() {
        for (flag, given) in [
            ("--match", args.match_rule.is_some()),
            ("--expect", args.expect.is_some()),
            ("--init", !args.init.is_empty()),
            ("--init-expect", args.init_expect.is_some()),
            ("--unsolicited", args.unsolicited.is_some()),
        ] {
            if given {
                return Err(Error::usage(format!(
                    "{flag} needs --message (or --message-file): it applies to templated messages"
                )));
            }
        }
        return Ok(None);
    }
    if let Some(size) = args.size {
        return Err(Error::usage(format!(
            "--size {size} sizes wsbench's own messages; with --message, the template is the message"
        )));
    }
    if args.mode.is_some() {
        return Err(Error::usage(
            "--mode checks wsbench's own replies; with --message, replies are checked by --match and --expect",
        ));
    }
    let Some(match_rule) = args.match_rule.clone() else {
        return Err(Error::usage(
            "--message needs --match (json:/pointer or regex:PATTERN): where each reply carries its request's id",
        ));
    };
    let config = ApiConfig {
        messages,
        init: args.init.clone(),
        init_expect: args.init_expect.clone(),
        match_rule,
        expect: args.expect.clone(),
        unsolicited: args.unsolicited.map(Into::into).unwrap_or_default(),
    };
    ApiPlan::compile(&config).map_err(Error::usage)?;
    Ok(Some(config))
}

/// `--subprotocol` values: RFC 6455 tokens (RFC 7230 `tchar`s), no repeats.
pub(super) fn subprotocols(args: &RunArgs) -> Result<Vec<String>, Error> {
    for (i, p) in args.subprotocol.iter().enumerate() {
        let token = !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(Error::usage(format!("--subprotocol {p:?} is not a token (letters, digits, !#$%&'*+-.^_`|~)")));
        }
        if args.subprotocol[..i].contains(p) {
            return Err(Error::usage(format!("--subprotocol {p:?} is given twice")));
        }
    }
    Ok(args.subprotocol.clone())
}
