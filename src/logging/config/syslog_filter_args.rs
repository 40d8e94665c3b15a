//! The arguments of `{"()": "pysyslog.filters.SyslogFilter", ...}`: every key
//! but `()` and `.` is a keyword argument, as dictConfig passes them to a
//! factory.
//!
//! Owns: the accepted keys and checking their values (names, networks,
//! regular expressions). Does not own: matching ([`crate::logging::syslog_filter`]).

use serde_json::{Map, Value};

use super::convert::{py_repr, py_repr_str, py_type};
use super::ctx::Ctx;
use super::invalid::Invalid;
use crate::cidr::{Cidr, CidrSet};
use crate::logging::attrs::Attr;
use crate::logging::syslog_filter::SyslogFilter;
use crate::syslog::names;

/// The factory's name in a configuration.
pub(super) const FACTORY: &str = "pysyslog.filters.SyslogFilter";

/// Attributes compared for equality, by their key.
const EQUAL_KEYS: [&str; 9] = [
    "hostname",
    "appname",
    "procid",
    "msgid",
    "transport",
    "listener",
    "tls_client_name",
    "syslog_format",
    "syslog_timestamp",
];

/// Longest compiled regular expression (the `regex` crate's own default,
/// stated so that a configuration cannot make the writer build a huge one).
const REGEX_SIZE_LIMIT: usize = 10 * 1024 * 1024;

/// Build the filter from the factory's keys.
pub(super) fn parse(ctx: &Ctx<'_>, m: &Map<String, Value>) -> Result<SyslogFilter, Invalid> {
    let mut f = SyslogFilter::default();
    for (key, raw) in m {
        if key == "()" || key == "." {
            continue;
        }
        let value = ctx.res.conv(raw)?;
        match key.as_str() {
            "facility" => {
                f.facility = Some(
                    strings(key, &value)?
                        .iter()
                        .map(|n| code(key, n, names::facility_code))
                        .collect::<Result<_, _>>()?,
                )
            }
            "severity" => {
                let name = string(key, &value)?;
                f.severity = Some(code(key, &name, names::severity_code)?);
            }
            "peer" => {
                let nets = strings(key, &value)?
                    .iter()
                    .map(|n| {
                        n.parse::<Cidr>()
                            .map_err(|e| Invalid(format!("peer: {}: {e}", py_repr_str(n))))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                f.peer = Some(CidrSet::new(nets));
            }
            "message_regex" => {
                let pattern = string(key, &value)?;
                let re = regex::RegexBuilder::new(&pattern)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| {
                        Invalid(format!(
                            "message_regex: {} is not a valid regular expression: {}",
                            py_repr_str(&pattern),
                            one_line(&e.to_string())
                        ))
                    })?;
                f.message_regex = Some(re);
            }
            k if EQUAL_KEYS.contains(&k) => {
                let attr = Attr::from_name(k).ok_or_else(|| unexpected(k))?;
                f.equal.push((attr, strings(key, &value)?));
            }
            other => return Err(unexpected(other)),
        }
    }
    Ok(f)
}

/// Python's TypeError for a keyword the factory does not take, with what it does.
fn unexpected(key: &str) -> Invalid {
    let mut known = vec!["facility", "severity", "peer", "message_regex"];
    known.extend(EQUAL_KEYS);
    Invalid(format!(
        "SyslogFilter() got an unexpected keyword argument {} (it takes {})",
        py_repr_str(key),
        known.join(", ")
    ))
}

fn string(key: &str, v: &Value) -> Result<String, Invalid> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(Invalid(format!(
            "{key} must be a string, not {}",
            py_type(other)
        ))),
    }
}

/// A string or a list of strings.
fn strings(key: &str, v: &Value) -> Result<Vec<String>, Invalid> {
    match v {
        Value::Array(items) if !items.is_empty() => items.iter().map(|i| string(key, i)).collect(),
        Value::Array(_) => Err(Invalid(format!("{key} must not be an empty list"))),
        other => Ok(vec![string(key, other)?]),
    }
}

fn code(key: &str, name: &str, lookup: fn(&str) -> Option<u8>) -> Result<u8, Invalid> {
    lookup(name).ok_or_else(|| {
        let known = if key == "facility" {
            names::FACILITIES.join(", ")
        } else {
            names::SEVERITIES.join(", ")
        };
        Invalid(format!(
            "{key}: unknown {key} {} (one of {known}, or an alias)",
            py_repr(&Value::String(name.to_owned()))
        ))
    })
}

/// The regex crate's errors span lines (the pattern, a caret, the message).
fn one_line(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
