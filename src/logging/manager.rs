//! The logger tree: Python's `Manager`, `Logger` and `PlaceHolder` semantics
//! reduced to what routing a record needs, with routes cached per logger name.
//!
//! Owns: effective levels, `propagate`, `disabled`, logger filters (which act on
//! the originating logger only) and the order in which handlers are called.
//! Does not own: handlers themselves or their filters' evaluation at emit time.
//!
//! A record's logger is `getLogger(name)`: its parent is the nearest *configured*
//! dotted ancestor (`"10.1.2.3"` hangs under `"10.1"` if configured, whole
//! components only, so `"100.1.2.3"` is not under `"10"`), else the root.
//! Loggers that are merely created (peers) have no level, no handlers and
//! propagate, so they are transparent and need not exist here.

use std::collections::HashMap;
use std::rc::Rc;

use super::filter::{names_pass, Filter};
use super::level::WARNING;

/// How many distinct logger names keep a cached route before the cache is reset.
const MAX_CACHED_ROUTES: usize = 65_536;

/// One configured logger.
#[derive(Debug, Clone)]
pub struct LoggerNode {
    /// `level` (0 = NOTSET, inherit).
    pub level: i32,
    /// Handler indexes, in the order they were added.
    pub handlers: Vec<usize>,
    /// Logger filters.
    pub filters: Vec<Filter>,
    /// `propagate`.
    pub propagate: bool,
}

impl Default for LoggerNode {
    fn default() -> LoggerNode {
        LoggerNode {
            level: 0,
            handlers: Vec::new(),
            filters: Vec::new(),
            propagate: true,
        }
    }
}

/// What happens to a record from one logger name, computed once.
#[derive(Debug, Clone, Default)]
pub struct Route {
    /// `getEffectiveLevel()` of the originating logger.
    pub level: i32,
    /// The originating logger's name filters pass this name.
    pub passes: bool,
    /// The originating logger's filters that read more than the name
    /// (checked per record by the engine).
    pub record_filters: Rc<[Filter]>,
    /// Handler indexes in `callHandlers` order; duplicates are called twice, as
    /// in Python. Shared so the engine can hold it while handlers run.
    pub handlers: Rc<[usize]>,
}

/// The configured loggers and the route cache.
#[derive(Debug, Default)]
pub struct Manager {
    root: LoggerNode,
    loggers: HashMap<String, LoggerNode>,
    cache: HashMap<Box<str>, Route>,
    /// The last name routed and its route: a batch holds runs of lines from
    /// one peer, so most records skip the hash lookup (hashing the name for
    /// every record was a large share of the writer's work).
    /// `None` when nothing is remembered.
    last_name: Option<String>,
    last: Route,
}

impl Manager {
    /// A manager whose root has Python's default level WARNING and no handlers.
    pub fn new() -> Manager {
        Manager {
            root: LoggerNode {
                level: WARNING,
                ..LoggerNode::default()
            },
            ..Manager::default()
        }
    }

    /// The root logger, to configure.
    pub fn root_mut(&mut self) -> &mut LoggerNode {
        self.forget();
        &mut self.root
    }

    /// `getLogger(name)`, to configure (`""` and `"root"` are the root logger).
    pub fn logger_mut(&mut self, name: &str) -> &mut LoggerNode {
        self.forget();
        if name.is_empty() || name == "root" {
            return &mut self.root;
        }
        self.loggers.entry(name.to_owned()).or_default()
    }

    /// Drop every cached route (the configuration changed).
    fn forget(&mut self) {
        self.cache.clear();
        self.last_name = None;
    }

    /// The route for records of logger `name`.
    pub fn route(&mut self, name: &str) -> &Route {
        if self.last_name.as_deref() != Some(name) {
            self.last = match self.cache.get(name) {
                Some(r) => r.clone(),
                None => {
                    if self.cache.len() >= MAX_CACHED_ROUTES {
                        self.cache.clear();
                    }
                    let r = self.compute(name);
                    self.cache.insert(name.into(), r.clone());
                    r
                }
            };
            let mut n = self.last_name.take().unwrap_or_default();
            n.clear();
            n.push_str(name);
            self.last_name = Some(n);
        }
        &self.last
    }

    /// The chain of loggers a record from `name` visits: itself if configured,
    /// configured ancestors by whole dotted components, then the root.
    fn chain(&self, name: &str) -> Vec<&LoggerNode> {
        let mut chain = Vec::new();
        if name.is_empty() || name == "root" {
            chain.push(&self.root);
            return chain;
        }
        if let Some(own) = self.loggers.get(name) {
            chain.push(own);
        }
        let mut rest = name;
        while let Some(i) = rest.rfind('.') {
            rest = &rest[..i];
            if let Some(l) = self.loggers.get(rest) {
                chain.push(l);
            }
        }
        chain.push(&self.root);
        chain
    }

    fn compute(&self, name: &str) -> Route {
        let chain = self.chain(name);
        let is_own = name.is_empty() || name == "root" || self.loggers.contains_key(name);
        // INVARIANT: the chain always ends with the root, so chain[0] exists.
        let passes = !is_own || names_pass(&chain[0].filters, name);
        let record_filters: Vec<Filter> = if is_own {
            chain[0]
                .filters
                .iter()
                .filter(|f| f.reads_record())
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let level = chain.iter().map(|l| l.level).find(|&l| l != 0).unwrap_or(0);
        let mut handlers = Vec::new();
        for l in &chain {
            handlers.extend_from_slice(&l.handlers);
            if !l.propagate {
                break;
            }
        }
        Route {
            level,
            passes,
            record_filters: record_filters.into(),
            handlers: handlers.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mgr() -> Manager {
        let mut m = Manager::new();
        m.root_mut().handlers = vec![0];
        m.root_mut().level = 20;
        let ten = m.logger_mut("10");
        ten.handlers = vec![1];
        let l = m.logger_mut("10.1");
        l.handlers = vec![2];
        l.level = 40;
        let p = m.logger_mut("10.2");
        p.handlers = vec![3];
        p.propagate = false;
        m.logger_mut("10.9.9.9").filters = vec![Filter::new("nope".into())];
        m
    }

    #[test]
    fn hierarchy_by_whole_octets() {
        let mut m = mgr();
        assert_eq!(*m.route("10.5.6.7").handlers, [1, 0]);
        assert_eq!(m.route("10.5.6.7").level, 20);
        assert_eq!(*m.route("10.1.2.3").handlers, [2, 1, 0]);
        assert_eq!(m.route("10.1.2.3").level, 40);
        assert_eq!(*m.route("100.1.2.3").handlers, [0]);
        assert_eq!(*m.route("10.2.0.1").handlers, [3]);
        assert_eq!(*m.route("::1").handlers, [0]);
        assert!(!m.route("10.9.9.9").passes);
        assert!(
            m.route("10.9.9.9.1").passes,
            "logger filters act only on the originating logger"
        );
    }

    #[test]
    fn remembered_route_follows_configuration_changes() {
        let mut m = mgr();
        assert_eq!(*m.route("10.1.2.3").handlers, [2, 1, 0]);
        assert_eq!(*m.route("10.1.2.3").handlers, [2, 1, 0]);
        m.logger_mut("10.1").propagate = false;
        assert_eq!(*m.route("10.1.2.3").handlers, [2]);
        assert_eq!(*m.route("9.9.9.9").handlers, [0]);
        m.root_mut().handlers = vec![5];
        assert_eq!(*m.route("9.9.9.9").handlers, [5]);
        assert_eq!(*m.route("10.1.2.3").handlers, [2]);
    }

    #[test]
    fn root_defaults_to_warning() {
        let mut m = Manager::new();
        assert_eq!(m.route("1.2.3.4").level, 30);
        assert!(m.route("1.2.3.4").handlers.is_empty());
        m.logger_mut("root").level = 10;
        assert_eq!(m.route("1.2.3.4").level, 10);
    }
}
