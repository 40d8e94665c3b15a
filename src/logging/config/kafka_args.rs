//! `pysyslog.handlers.KafkaHandler`'s constructor arguments.
//!
//! Owns: their names, types, defaults and error wording. Does not own:
//! checking the librdkafka properties (`kafka::settings` asks librdkafka).

use serde_json::Value;

use super::convert::{py_repr, py_str};
use super::encoding::text_encoding;
use super::invalid::Invalid;
use super::kwargs::Kwargs;
use crate::kafka::{Compression, KafkaArgs, KeySource};
use crate::logging::spec::HandlerClass;

pub(super) fn build(kw: &Kwargs<'_>) -> Result<HandlerClass, Invalid> {
    kw.check(
        &[
            "bootstrap_servers",
            "topic",
            "key",
            "acks",
            "compression",
            "properties",
            "encoding",
            "errors",
        ],
        &["bootstrap_servers", "topic"],
    )?;
    let bootstrap_servers = servers(kw.get("bootstrap_servers")?)?;
    let topic = kw.string("topic")?.unwrap_or_default();
    if topic.is_empty() {
        return Err("topic must not be empty".to_owned().into());
    }
    // `key: null` is no key; absent is the logger name.
    let key = match kw.ctx.res.get(&kw.map, "key")? {
        None => KeySource::LoggerName,
        Some(Value::Null) => KeySource::None,
        Some(other) => {
            return Err(format!(
                "key must be null (records without a key) or left out (the logger name, that is the peer's address), not {}",
                py_repr(&other)
            )
            .into())
        }
    };
    let acks = match kw.get("acks")? {
        None => "all".to_owned(),
        Some(Value::String(s)) if s == "all" => s,
        Some(v) => match v.as_i64() {
            Some(n @ -1..=1) => n.to_string(),
            _ => return Err(format!("acks must be 'all', -1, 0 or 1, not {}", py_repr(&v)).into()),
        },
    };
    let compression = match kw.string("compression")? {
        None => Compression::None,
        Some(name) => Compression::parse(&name).ok_or_else(|| {
            format!(
                "unsupported compression {} (use one of: {})",
                py_repr(&Value::String(name.clone())),
                Compression::NAMES
            )
        })?,
    };
    let properties = match kw.get("properties")? {
        None => Vec::new(),
        Some(Value::Object(m)) => {
            let mut out = Vec::with_capacity(m.len());
            for (name, value) in m {
                let value = kw.ctx.res.conv(&value)?;
                let text = match &value {
                    Value::String(_) | Value::Number(_) | Value::Bool(_) => py_str(&value),
                    other => {
                        return Err(format!(
                            "properties: '{name}' must be a string, number or boolean, not {}",
                            py_repr(other)
                        )
                        .into())
                    }
                };
                // librdkafka spells booleans in lower case.
                let text = match value {
                    Value::Bool(b) => b.to_string(),
                    _ => text,
                };
                out.push((name, text));
            }
            out
        }
        Some(other) => {
            return Err(format!(
                "properties must be an object of librdkafka settings, not {}",
                py_repr(&other)
            )
            .into())
        }
    };
    let (encoding, errors) = text_encoding(kw)?;
    let kafka = KafkaArgs {
        bootstrap_servers,
        topic,
        key,
        acks,
        compression,
        properties,
    };
    kafka.validate().map_err(|e| Invalid(e.to_string()))?;
    Ok(HandlerClass::Kafka {
        kafka,
        encoding,
        errors,
    })
}

/// A list of `host:port` strings, or one comma-separated string.
fn servers(value: Option<Value>) -> Result<Vec<String>, Invalid> {
    let bad = |v: &Value| -> Invalid {
        format!(
            "bootstrap_servers must be a list of 'host:port' strings or one comma-separated string, not {}",
            py_repr(v)
        )
        .into()
    };
    let list: Vec<String> = match value {
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in &items {
                match item {
                    Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_owned()),
                    other => return Err(bad(other)),
                }
            }
            out
        }
        Some(other) => return Err(bad(&other)),
        None => Vec::new(),
    };
    if list.is_empty() {
        return Err("bootstrap_servers names no server".to_owned().into());
    }
    Ok(list)
}
