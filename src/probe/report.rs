//! Check results and the two report forms: one line per check, or one JSON
//! object (hand-written: no serde).

use crate::decimal::Dbl;
use std::fmt::Write;

/// A figure in a check's result.
#[derive(Debug, Clone)]
pub enum Val {
    /// Printed with at most three decimals.
    Num(Dbl),
    /// No figure (JSON null).
    Null,
    Int(u64),
    Bool(bool),
    Str(String),
}

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// Why the check does not apply (then `ok` is false).
    pub skipped: Option<String>,
    /// The figures, in report order.
    pub fields: Vec<(&'static str, Val)>,
    /// The text report's line after the name and status.
    pub summary: String,
}

impl Check {
    pub fn new(name: &'static str, ok: bool, summary: String) -> Check {
        Check {
            name,
            ok,
            skipped: None,
            fields: Vec::new(),
            summary,
        }
    }

    /// A check that failed with an error and has no figures.
    pub fn failed(name: &'static str, why: &str) -> Check {
        Check::new(name, false, why.to_string()).with("error", Val::Str(why.to_string()))
    }

    pub fn skipped(name: &'static str, why: &str) -> Check {
        Check {
            skipped: Some(why.to_string()),
            ..Check::new(name, false, why.to_string())
        }
    }

    pub fn with(mut self, key: &'static str, v: Val) -> Check {
        self.fields.push((key, v));
        self
    }

    /// Passed, or does not apply.
    pub fn acceptable(&self) -> bool {
        self.ok || self.skipped.is_some()
    }
}

/// The text report: one line per check.
pub fn text(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let status = if c.skipped.is_some() {
            "skipped"
        } else if c.ok {
            "ok"
        } else {
            "FAIL"
        };
        let _ = writeln!(s, "{:<10} {:<8} {}", c.name, status, c.summary);
    }
    s
}

/// The JSON report: `{"tcp":{"ok":true,...},...}` on one line.
pub fn json(checks: &[Check]) -> String {
    let mut s = String::from("{");
    for (i, c) in checks.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{}:{{\"ok\":{}", crate::json::quote(c.name), c.ok);
        if let Some(why) = &c.skipped {
            let _ = write!(s, ",\"skipped\":{}", crate::json::quote(why));
        }
        for (k, v) in &c.fields {
            let _ = write!(s, ",{}:", crate::json::quote(k));
            match v {
                Val::Num(x) => s.push_str(&round3(*x)),
                Val::Null => s.push_str("null"),
                Val::Int(n) => {
                    let _ = write!(s, "{n}");
                }
                Val::Bool(b) => {
                    let _ = write!(s, "{b}");
                }
                Val::Str(t) => s.push_str(&crate::json::quote(t)),
            }
        }
        s.push('}');
    }
    s.push_str("}\n");
    s
}

/// A number with at most three decimals, without trailing zeros.
fn round3(x: Dbl) -> String {
    let t = x.fixed(3);
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let c = vec![
            Check::new("tcp", true, "fine".into())
                .with("connect_ms", Val::Num(Dbl::ratio(1, 4)))
                .with("n", Val::Int(3)),
            Check::skipped("broadcast", "no \"subnet\"\n"),
            Check::failed("udp", "timed out").with("x", Val::Null),
        ];
        assert_eq!(
            json(&c),
            "{\"tcp\":{\"ok\":true,\"connect_ms\":0.25,\"n\":3},\
             \"broadcast\":{\"ok\":false,\"skipped\":\"no \\\"subnet\\\"\\n\"},\
             \"udp\":{\"ok\":false,\"error\":\"timed out\",\"x\":null}}\n"
        );
        assert!(text(&c).contains("broadcast  skipped"));
        assert_eq!(round3(Dbl::ratio(1400, 1)), "1400");
        assert_eq!(round3(Dbl::ratio(4, 10_000)), "0");
    }
}
