//! Loading any request/response WebSocket API: messages from templates
//! ([`template`]), the correlation id of each incoming message and the
//! checks of the replies ([`pattern`]), and the init exchange after the
//! upgrade ([`init`]). [`ApiPlan`] is the compiled `ApiConfig`, shared by
//! every connection of the run; the session uses it in place of the stamp
//! and the reply mode.
//!
//! Correlation: every message template carries `{{seq}}` (or else
//! `{{id}}`), and `--match` finds that number in the replies; a reply
//! settles the message in flight with that number, in any order.

use wsbench_proto::{encode_header, unmask_at, OpCode, MAX_HEADER};

use crate::engine::connect::Rng;
use crate::results::setup::{ApiConfig, Unsolicited};

pub mod init;
pub mod pattern;
pub mod seek;
pub mod template;

pub use pattern::{Expectation, Matcher, Parsed};
pub use template::{Template, Vars};

/// The largest total of `--message` weights: the weighted order is a table
/// of that many entries.
pub const MAX_TOTAL_WEIGHT: u64 = 100_000;

/// Appends one masked client frame of `opcode` holding the message
/// `template` makes of `vars` to `out`: header, then the payload rendered
/// in place and masked there. Returns the frame's length.
#[inline]
pub fn write_frame(
    out: &mut Vec<u8>,
    template: &Template,
    vars: &Vars,
    now_ms: u64,
    opcode: OpCode,
    mask: [u8; 4],
    rng: &mut Rng,
) -> usize {
    let len = template.len(vars, now_ms);
    let mut head = [0u8; MAX_HEADER];
    let n = encode_header(&mut head, true, opcode, len, Some(mask));
    let start = out.len();
    out.extend_from_slice(&head[..n]);
    template.render(vars, now_ms, rng, out);
    debug_assert_eq!(out.len(), start + n + len);
    unmask_at(&mut out[start + n..], mask, 0);
    n + len
}

/// Which placeholder carries the correlation id that `--match` finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correlation {
    /// `{{seq}}`: the message's number on its connection.
    Seq,
    /// `{{id}}`: unique in the run ([`template::run_id`]).
    Id,
}

/// The API load, compiled once for the run.
#[derive(Debug, Clone)]
pub struct ApiPlan {
    /// The message templates.
    pub templates: Vec<Template>,
    /// Template indices in the weighted order, cycled through.
    order: Vec<u32>,
    /// `--init`, parsed.
    pub init: Vec<Template>,
    /// `--init-expect`.
    pub init_expect: Option<Expectation>,
    /// `--match`.
    pub matcher: Matcher,
    /// `--expect`.
    pub expect: Option<Expectation>,
    /// `--unsolicited`.
    pub unsolicited: Unsolicited,
    /// Where the correlation id is.
    pub correlation: Correlation,
    /// Whether any message template reads the clock.
    pub uses_now: bool,
}

/// Splits `W:TEMPLATE` into its weight and template. A template has a
/// weight when the text before its first ':' starts with a digit, a sign
/// or a '.' and holds no space, quote or brace: that text must then be a
/// whole number from 1. A template whose text itself starts so (`10:00`)
/// is written with a weight: `1:10:00`.
pub fn split_weight(s: &str) -> Result<(u64, &str), String> {
    let Some((w, rest)) = s.split_once(':') else { return Ok((1, s)) };
    let looks_like_weight = w.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'))
        && w.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.' | '_'));
    if !looks_like_weight {
        return Ok((1, s));
    }
    match w.parse::<u64>() {
        Ok(n) if n >= 1 => Ok((n, rest)),
        _ => Err(format!("weight {w:?} is not a whole number from 1 (write W:TEMPLATE, e.g. 3:{{...}})")),
    }
}

impl ApiPlan {
    /// Compiles `config`; each error names its flag.
    pub fn compile(config: &ApiConfig) -> Result<ApiPlan, String> {
        if config.messages.is_empty() {
            return Err("--message: no message template given".into());
        }
        let mut templates = Vec::new();
        let mut weights = Vec::new();
        for m in &config.messages {
            let (w, text) = split_weight(m).map_err(|e| format!("--message {m:?}: {e}"))?;
            templates.push(Template::parse(text).map_err(|e| format!("--message {m:?}: {e}"))?);
            weights.push(w);
        }
        let total: u64 = weights.iter().sum();
        if total > MAX_TOTAL_WEIGHT {
            return Err(format!("--message: the weights add up to {total}, more than {MAX_TOTAL_WEIGHT}"));
        }
        let correlation = if templates.iter().any(Template::has_seq) { Correlation::Seq } else { Correlation::Id };
        for (t, m) in templates.iter().zip(&config.messages) {
            let missing = match correlation {
                Correlation::Seq if !t.has_seq() => "no {{seq}} in it, and another template correlates by {{seq}}",
                Correlation::Id if !t.has_id() => "no {{seq}} or {{id}} in it",
                _ => continue,
            };
            return Err(format!(
                "--message {m:?}: {missing}: every message must carry the id that --match finds in its reply"
            ));
        }
        let init = config
            .init
            .iter()
            .map(|m| Template::parse(m).map_err(|e| format!("--init {m:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let init_expect = config
            .init_expect
            .as_deref()
            .map(|e| Expectation::parse(e).map_err(|why| format!("--init-expect: {why}")))
            .transpose()?;
        let matcher = Matcher::parse(&config.match_rule).map_err(|e| format!("--match: {e}"))?;
        let expect = config
            .expect
            .as_deref()
            .map(|e| Expectation::parse(e).map_err(|why| format!("--expect: {why}")))
            .transpose()?;
        Ok(ApiPlan {
            uses_now: templates.iter().any(Template::has_now),
            order: weighted_order(&weights),
            templates,
            init,
            init_expect,
            matcher,
            expect,
            unsolicited: config.unsolicited,
            correlation,
        })
    }

    /// The template of message `seq` of connection `conn`: the weighted
    /// order, cycled, each connection from its own place in it.
    #[inline]
    pub fn template(&self, conn: u32, seq: u64) -> &Template {
        let i = (seq.wrapping_add(u64::from(conn)) % self.order.len() as u64) as usize;
        &self.templates[self.order[i] as usize]
    }

    /// The shortest message any template makes.
    pub fn min_len(&self) -> usize {
        self.templates.iter().map(Template::min_len).min().unwrap_or(0)
    }
}

/// Template indices, each as often as its weight, spread evenly (smooth
/// weighted round robin, as nginx does it): weights 3 and 1 give
/// 0 0 1 0, not 0 0 0 1.
fn weighted_order(weights: &[u64]) -> Vec<u32> {
    let total: u64 = weights.iter().sum();
    let mut current = vec![0i64; weights.len()];
    let mut order = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, w) in current.iter_mut().zip(weights) {
            *c += *w as i64;
        }
        let (best, _) = current.iter().enumerate().max_by_key(|(i, c)| (**c, -(*i as i64))).expect("a template");
        current[best] -= total as i64;
        order.push(best as u32);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(messages: &[&str]) -> ApiConfig {
        ApiConfig {
            messages: messages.iter().map(|s| s.to_string()).collect(),
            init: vec![],
            init_expect: None,
            match_rule: "json:/id".into(),
            expect: None,
            unsolicited: Unsolicited::Count,
        }
    }

    #[test]
    fn weights() {
        assert_eq!(split_weight(r#"3:{"id":1}"#), Ok((3, r#"{"id":1}"#)));
        assert_eq!(split_weight(r#"{"id":1}"#), Ok((1, r#"{"id":1}"#)));
        assert_eq!(split_weight("ping:{{seq}}"), Ok((1, "ping:{{seq}}")));
        for bad in ["1.5:x", "-1:x", "0:x", "2x:x"] {
            assert!(split_weight(bad).unwrap_err().contains("not a whole number"), "{bad}");
        }
        assert_eq!(weighted_order(&[3, 1]), [0, 0, 1, 0]);
        assert_eq!(weighted_order(&[1, 1, 1]), [0, 1, 2]);
    }

    #[test]
    fn messages_cycle_by_weight() {
        let plan = ApiPlan::compile(&config(&["2:a{{seq}}", "b{{seq}}"])).unwrap();
        let picked: Vec<bool> = (0..6).map(|s| plan.template(0, s).has_seq()).collect();
        assert!(picked.iter().all(|&b| b));
        assert_eq!(plan.correlation, Correlation::Seq);
        let plan = ApiPlan::compile(&config(&["x{{id}}"])).unwrap();
        assert_eq!(plan.correlation, Correlation::Id);
    }

    #[test]
    fn refusals_name_their_flag() {
        let e = ApiPlan::compile(&config(&["no id here"])).unwrap_err();
        assert!(e.starts_with("--message") && e.contains("{{seq}}"), "{e}");
        let e = ApiPlan::compile(&config(&["a{{seq}}", "b"])).unwrap_err();
        assert!(e.contains("\"b\""), "{e}");
        let mut c = config(&["{{seq}}"]);
        c.match_rule = "regex:x".into();
        assert!(ApiPlan::compile(&c).unwrap_err().starts_with("--match"));
        let mut c = config(&["{{seq}}"]);
        c.expect = Some("json:x".into());
        assert!(ApiPlan::compile(&c).unwrap_err().starts_with("--expect"));
        let mut c = config(&["{{seq}}"]);
        c.init = vec!["{{bad}}".into()];
        assert!(ApiPlan::compile(&c).unwrap_err().starts_with("--init"));
    }
}
