//! One record per layer, the verdict and the exit code, and both output
//! forms: a line per layer as it finishes, or one JSON object at the end.

use super::Ctx;
use std::fmt::Write;

/// The layers in order, with the exit code that names each when it is the
/// first to fail (0: all pass; 1 and 2 keep their meanings: netcrab's own
/// runtime failure and a usage error).
pub const LAYERS: [(&str, u8); 6] = [
    ("link", 10),
    ("address", 11),
    ("gateway", 12),
    ("dns", 13),
    ("targets", 14),
    ("web", 15),
];

#[derive(Debug, Clone)]
pub struct Layer {
    pub name: &'static str,
    pub ok: bool,
    /// Why the layer did not run (then `ok` is false but it is no failure).
    pub skipped: Option<String>,
    pub evidence: String,
    /// The likely cause, for the verdict, when the layer fails.
    pub cause: String,
    pub ms: u64,
}

impl Layer {
    pub fn pass(name: &'static str, evidence: String) -> Layer {
        Layer {
            name,
            ok: true,
            skipped: None,
            evidence,
            cause: String::new(),
            ms: 0,
        }
    }

    pub fn fail(name: &'static str, evidence: String, cause: &str) -> Layer {
        Layer {
            name,
            ok: false,
            skipped: None,
            evidence,
            cause: cause.to_string(),
            ms: 0,
        }
    }

    pub fn skip(name: &'static str, why: &str) -> Layer {
        Layer {
            name,
            ok: false,
            skipped: Some(why.to_string()),
            evidence: format!("skipped: {why}"),
            cause: String::new(),
            ms: 0,
        }
    }

    pub fn failed(&self) -> bool {
        !self.ok && self.skipped.is_none()
    }
}

/// The layer that `name` depends on failed or was skipped: skip it too.
pub fn blocked(name: &'static str, before: &[Layer], needs: &str, why: &str) -> Option<Layer> {
    before
        .iter()
        .find(|l| l.name == needs && !l.ok)
        .map(|_| Layer::skip(name, why))
}

/// `link     ok      3 ms  evidence`.
pub fn line(l: &Layer) -> String {
    let status = if l.ok {
        "ok"
    } else if l.skipped.is_some() {
        "skip"
    } else {
        "FAIL"
    };
    format!(
        "{:<8} {:<4} {:>5} ms  {}\n",
        l.name, status, l.ms, l.evidence
    )
}

/// The exit code and the verdict line.
pub fn verdict(layers: &[Layer]) -> (u8, String) {
    let Some(first) = layers.iter().find(|l| l.failed()) else {
        let ran: Vec<&str> = layers.iter().filter(|l| l.ok).map(|l| l.name).collect();
        let skipped: Vec<&str> = layers
            .iter()
            .filter(|l| l.skipped.is_some())
            .map(|l| l.name)
            .collect();
        let mut v = format!("online: {} pass", ran.join(", "));
        if !skipped.is_empty() {
            let _ = write!(v, " ({} not asked for)", skipped.join(", "));
        }
        return (0, v);
    };
    let code = LAYERS
        .iter()
        .find(|(n, _)| *n == first.name)
        .map_or(1, |(_, c)| *c);
    let mut v = format!("{} fails", first.name);
    if !first.cause.is_empty() {
        let _ = write!(v, ": {}", first.cause);
    }
    (code, v)
}

/// The text form's end: what needed privilege, then the verdict.
pub fn tail(ctx: &Ctx, code: u8, verdict: &str) -> String {
    let mut out = String::new();
    for p in &ctx.privilege {
        let _ = writeln!(out, "privilege: {p}");
    }
    let _ = writeln!(out, "verdict: {verdict} (exit {code})");
    out
}

/// One JSON object on one line: the `--ifaces --json` members
/// (`interfaces`, `default_routes`, `dns`), then `layers`, `privilege`,
/// `verdict` and `exit`.
pub fn json(ctx: &Ctx, layers: &[Layer], code: u8, verdict: &str) -> String {
    let q = crate::json::quote;
    let mut o = format!(
        "{{{},\"layers\":[",
        crate::net::ifaces::json_parts(&ctx.snap)
    );
    for (i, l) in layers.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(
            o,
            "{{\"name\":{},\"ok\":{},\"skipped\":{},\"evidence\":{},\"ms\":{}}}",
            q(l.name),
            l.ok,
            l.skipped.as_deref().map_or_else(|| "null".to_string(), q),
            q(&l.evidence),
            l.ms
        );
    }
    let privilege: Vec<String> = ctx.privilege.iter().map(|p| q(p)).collect();
    let first = layers
        .iter()
        .find(|l| l.failed())
        .map_or_else(|| "null".to_string(), |l| q(l.name));
    let _ = writeln!(
        o,
        "],\"privilege\":[{}],\"first_failure\":{first},\"verdict\":{},\"exit\":{code}}}",
        privilege.join(","),
        q(verdict)
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_names_the_exit_code() {
        let layers = vec![
            Layer::pass("link", "va up".into()),
            Layer::pass("address", "10.0.0.2/24".into()),
            Layer::fail("gateway", "no answer".into(), "the router is down"),
            Layer::fail("dns", "no answer".into(), "x"),
            Layer::skip("targets", "no target given"),
        ];
        assert_eq!(
            verdict(&layers),
            (12, "gateway fails: the router is down".to_string())
        );
        let ok = vec![
            Layer::pass("link", "va up".into()),
            Layer::skip("web", "no --check-url given"),
        ];
        assert_eq!(
            verdict(&ok),
            (0, "online: link pass (web not asked for)".to_string())
        );
        assert_eq!(
            line(&layers[2]),
            "gateway  FAIL     0 ms  no answer\n".to_string()
        );
    }
}
