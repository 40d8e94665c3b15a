//! The validated `dictConfig` model: read the JSON, check it the way
//! `logging.config.DictConfigurator.configure` would, and keep the result.
//!
//! Owns: the top-level schema (`version`, `incremental`, `formatters`, `filters`,
//! `handlers`, `loggers`, `root`), error wording and JSON paths. Does not own:
//! handler arguments (see `handler.rs`), value conversion (see `convert.rs`), or
//! opening files and sockets (the engine does that in `Engine::build`).
//!
//! `disable_existing_loggers` is read and ignored on purpose: Python disables the
//! peer loggers already seen when a config is loaded again, which silently drops
//! their messages; a reload here builds a new engine with no such memory.

mod args;
mod convert;
mod ctx;
mod encoding;
mod handler;
mod invalid;
mod json_formatter_args;
mod kafka_args;
mod kwargs;
mod syslog_filter_args;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::filter::Filter;
use super::formatter::{Formatter, Style};
use super::oserror::os_error_text;
use super::spec::{Config, ConfigError, HandlerClass, LoggerSpec};
use convert::{py_repr_str, py_str, truthy, Resolver};
use ctx::{as_dict, check_filters, dot_names, dot_warning, name_list, opt_str, Ctx, DotUse};
use invalid::Invalid;

impl Config {
    /// Read and validate a dictConfig JSON file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path, "", os_error_text(&e, path)))?;
        Config::from_json_str(&text, path)
    }

    /// Validate a dictConfig JSON text; relative file names are made absolute
    /// against the current directory, as `os.path.abspath` does.
    pub fn from_json_str(text: &str, source: &Path) -> Result<Config, ConfigError> {
        let cwd =
            std::env::current_dir().map_err(|e| ConfigError::new(source, "", e.to_string()))?;
        Config::from_json_str_in(text, source, &cwd)
    }

    /// [`Config::from_json_str`] with an explicit directory for relative file
    /// names (tests run many configs in one process, so they cannot `chdir`).
    pub fn from_json_str_in(text: &str, source: &Path, cwd: &Path) -> Result<Config, ConfigError> {
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| ConfigError::new(source, "", format!("invalid JSON: {e}")))?;
        let empty = Map::new();
        let obj = doc.as_object();
        let ctx = Ctx {
            source,
            cwd,
            res: Resolver {
                root: obj.unwrap_or(&empty),
            },
        };
        let Some(obj) = obj else {
            return Err(ctx.err("", "dictionary doesn't specify a version"));
        };
        match obj.get("version") {
            None => return Err(ctx.err("", "dictionary doesn't specify a version")),
            Some(v) if is_one(v) => {}
            Some(v) => {
                return Err(ctx.err("version", format!("Unsupported version: {}", py_str(v))))
            }
        }
        let incremental = obj.get("incremental").is_some_and(truthy);
        let mut config = Config {
            source: source.to_owned(),
            incremental,
            formatters: BTreeMap::new(),
            filters: BTreeMap::new(),
            handlers: Vec::new(),
            loggers: Vec::new(),
            root: None,
            warnings: Vec::new(),
        };
        let section = |key: &str| -> Result<Option<Map<String, Value>>, ConfigError> {
            match ctx.res.get(obj, key).map_err(|e| ctx.err(key, e))? {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Object(m)) => Ok(Some(m)),
                Some(other) => Err(ctx.err(
                    key,
                    format!(
                        "'{}' object has no attribute 'get'",
                        convert::py_type(&other)
                    ),
                )),
            }
        };
        if incremental {
            if let Some(handlers) = section("handlers")? {
                if let Some(name) = handlers.keys().next() {
                    return Err(ctx.err(
                        format!("handlers.{name}"),
                        format!("No handler found with name {}", py_repr_str(name)),
                    ));
                }
            }
        } else {
            if let Some(formatters) = section("formatters")? {
                config.formatters = named(
                    &ctx,
                    &formatters,
                    "formatter",
                    parse_formatter,
                    &mut config.warnings,
                )?;
            }
            if let Some(filters) = section("filters")? {
                config.filters =
                    named(&ctx, &filters, "filter", parse_filter, &mut config.warnings)?;
            }
            let handlers = section("handlers")?.unwrap_or_default();
            let (handlers, warnings) = handler::parse_all(&ctx, obj, &handlers, &config)?;
            config.handlers = handlers;
            config.warnings.extend(warnings);
        }
        let handler_names: Vec<&str> = config.handlers.iter().map(|h| h.name.as_str()).collect();
        if let Some(loggers) = section("loggers")? {
            for (name, spec) in &loggers {
                let l = parse_logger(&ctx, obj, name, spec, incremental, &handler_names).map_err(
                    |e| {
                        ctx.err(
                            format!("loggers.{name}"),
                            format!("Unable to configure logger {}: {e}", py_repr_str(name)),
                        )
                    },
                )?;
                config.loggers.push(l);
            }
        }
        if let Some(root) = ctx.res.get(obj, "root").map_err(|e| ctx.err("root", e))? {
            if truthy(&root) {
                let l = parse_logger(&ctx, obj, "", &root, incremental, &handler_names).map_err(
                    |e| ctx.err("root", format!("Unable to configure root logger: {e}")),
                )?;
                config.root = Some(Box::new(l));
            }
        }
        if !incremental {
            let warnings = usage_warnings(&ctx, obj, &config);
            config.warnings.extend(warnings);
        }
        Ok(config)
    }
}

/// The `formatters` or `filters` section (`what`: `formatter`, `filter`),
/// each entry read by `parse`, its `.` attributes warned about.
fn named<T>(
    ctx: &Ctx<'_>,
    section: &Map<String, Value>,
    what: &str,
    parse: impl Fn(&Ctx<'_>, &Value) -> Result<T, Invalid>,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, T>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, spec) in section {
        let path = format!("{what}s.{name}");
        let item = parse(ctx, spec).map_err(|e| {
            ctx.err(
                &path,
                format!("Unable to configure {what} {}: {e}", py_repr_str(name)),
            )
        })?;
        let unused = ctx
            .res
            .conv(spec)
            .map(|s| dot_names(&s))
            .unwrap_or_default();
        warnings.extend(dot_warning(ctx, &path, DotUse::FormatterOrFilter, unused));
        out.insert(name.clone(), item);
    }
    Ok(out)
}

/// The top-level keys dictConfig reads.
const TOP_LEVEL_KEYS: [&str; 8] = [
    "version",
    "formatters",
    "filters",
    "handlers",
    "loggers",
    "root",
    "incremental",
    "disable_existing_loggers",
];

/// What Python accepts but makes a configuration log less than it seems
/// to: keys dictConfig ignores (a misspelt section), a root with handlers
/// and no level (its default WARNING drops every received line, logged at
/// INFO), and handlers no logger uses.
fn usage_warnings(ctx: &Ctx<'_>, obj: &Map<String, Value>, config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for key in obj.keys().filter(|k| !TOP_LEVEL_KEYS.contains(&k.as_str())) {
        out.push(
            ctx.err(
                key.as_str(),
                format!(
                    "unknown top-level key {}: dictConfig ignores it (keys: {})",
                    py_repr_str(key),
                    TOP_LEVEL_KEYS.join(", ")
                ),
            )
            .to_string(),
        );
    }
    if let Some(root) = config.root.as_deref() {
        if root.level.is_none() && !root.handlers.is_empty() {
            out.push(ctx.err("root", "no 'level': Python's default, WARNING, drops every received line (logged at INFO) before the root's handlers see it; set \"level\": \"INFO\" (or lower)").to_string());
        }
    }
    let used = |name: &str| {
        config
            .loggers
            .iter()
            .chain(config.root.as_deref())
            .any(|l| l.handlers.iter().any(|h| h == name))
            || config.handlers.iter().any(
                |h| matches!(&h.class, HandlerClass::Memory { target: Some(t), .. } if t == name),
            )
    };
    for h in config.handlers.iter().filter(|h| !used(&h.name)) {
        out.push(
            ctx.err(
                format!("handlers.{}", h.name),
                "attached to no logger (nor a MemoryHandler's target): it receives nothing",
            )
            .to_string(),
        );
    }
    out
}

/// `config['version'] != 1` is false for 1, 1.0 and True.
fn is_one(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() == Some(1.0),
        _ => false,
    }
}

/// `configure_formatter`: `format`, `datefmt`, `style`, `validate`, `class`;
/// or python-json-logger's JsonFormatter factory.
fn parse_formatter(ctx: &Ctx<'_>, spec: &Value) -> Result<Formatter, Invalid> {
    let spec = ctx.res.conv(spec)?;
    let m = as_dict(&spec)?;
    if let Some(factory) = m.get("()") {
        if let Some(name) = factory.as_str() {
            if json_formatter_args::FACTORIES.contains(&name) {
                return json_formatter_args::parse(ctx, m);
            }
        }
        return Err(format!(
            "formatter factory {} is not supported by pysyslog; use 'format', 'datefmt' and 'style', or {}",
            convert::py_repr(factory),
            json_formatter_args::FACTORIES[0]
        )
        .into());
    }
    let fmt = opt_str(ctx, m, "format")?;
    let datefmt = opt_str(ctx, m, "datefmt")?;
    let style = opt_str(ctx, m, "style")?.unwrap_or_else(|| "%".into());
    if let Some(class) = ctx.res.get(m, "class")? {
        if truthy(&class) && class != Value::String("logging.Formatter".into()) {
            return Err(format!(
                "unsupported formatter class {} (pysyslog supports only logging.Formatter)",
                convert::py_repr(&class)
            )
            .into());
        }
    }
    let validate = ctx.res.get(m, "validate")?.map_or(true, |v| truthy(&v));
    let style = Style::parse(&style).map_err(|e| Invalid(e.to_string()))?;
    // dictConfig in 3.11 does not pass `defaults` to the formatter.
    Formatter::new(
        fmt.as_deref(),
        datefmt.as_deref(),
        style,
        validate,
        &Map::new(),
    )
    .map_err(|e| Invalid(e.to_string()))
}

/// `configure_filter`: `{"name": ...}`, or the SyslogFilter factory.
fn parse_filter(ctx: &Ctx<'_>, spec: &Value) -> Result<Filter, Invalid> {
    let spec = ctx.res.conv(spec)?;
    let m = as_dict(&spec)?;
    if let Some(factory) = m.get("()") {
        if factory.as_str() == Some(syslog_filter_args::FACTORY) {
            return syslog_filter_args::parse(ctx, m).map(|f| Filter::Syslog(Box::new(f)));
        }
        return Err(format!(
            "filter factory {} is not supported by pysyslog; use {{\"name\": ...}} or {}",
            convert::py_repr(factory),
            syslog_filter_args::FACTORY
        )
        .into());
    }
    Ok(Filter::new(opt_str(ctx, m, "name")?.unwrap_or_default()))
}

/// `configure_logger` / `configure_root`.
fn parse_logger(
    ctx: &Ctx<'_>,
    doc: &Map<String, Value>,
    name: &str,
    spec: &Value,
    incremental: bool,
    handler_names: &[&str],
) -> Result<LoggerSpec, Invalid> {
    let spec = ctx.res.conv(spec)?;
    let m = as_dict(&spec)?;
    let level = match ctx.res.get(m, "level")? {
        None | Some(Value::Null) => None,
        Some(v) => Some(convert::check_level(&v)?),
    };
    let mut l = LoggerSpec {
        name: name.to_owned(),
        level,
        ..LoggerSpec::default()
    };
    if !incremental {
        if let Some(h) = ctx.res.get(m, "handlers")?.filter(truthy) {
            for h in name_list(&h, "handler")? {
                if !handler_names.contains(&h.as_str()) {
                    let key = if doc.contains_key("handlers") {
                        py_repr_str(&h)
                    } else {
                        "'handlers'".into()
                    };
                    return Err(format!("Unable to add handler {}: {key}", py_repr_str(&h)).into());
                }
                if !l.handlers.contains(&h) {
                    l.handlers.push(h);
                }
            }
        }
        if let Some(f) = ctx.res.get(m, "filters")?.filter(truthy) {
            l.filters = check_filters(doc, &f, ctx)?;
        }
    }
    if !name.is_empty() {
        l.propagate = ctx
            .res
            .get(m, "propagate")?
            .filter(|v| !v.is_null())
            .map(|v| truthy(&v));
    }
    Ok(l)
}

#[cfg(test)]
mod tests;
