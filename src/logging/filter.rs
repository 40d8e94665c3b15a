//! dictConfig's filters: `logging.Filter(name)`, which passes a record whose
//! logger name is `name` or lies below it in the dotted hierarchy, and the
//! built-in factory `pysyslog.filters.SyslogFilter` (on syslog attributes).
//!
//! Owns: which kind a filter is and the name-prefix rule. Does not own: the
//! syslog criteria ([`super::syslog_filter`]) or where filters are attached
//! (the manager applies logger filters, handlers apply their own).

use super::record::LogRecord;
use super::syslog_filter::SyslogFilter;

/// A configured filter.
#[derive(Debug, Clone)]
pub enum Filter {
    /// `logging.Filter(name)`.
    Name(String),
    /// `{"()": "pysyslog.filters.SyslogFilter", ...}`.
    Syslog(Box<SyslogFilter>),
}

impl Filter {
    /// `Filter(name)`; `""` passes everything.
    pub fn new(name: String) -> Filter {
        Filter::Name(name)
    }

    /// `Filter.filter`.
    pub fn passes(&self, record: &LogRecord<'_>) -> bool {
        match self {
            Filter::Name(n) => name_passes(n, record.name),
            Filter::Syslog(f) => f.passes(record),
        }
    }

    /// Whether the filter looks at more than the logger name: the
    /// manager caches routes per name, which such a filter cannot be.
    pub fn reads_record(&self) -> bool {
        matches!(self, Filter::Syslog(_))
    }
}

/// `"192.168"` passes `192.168.1.1`, not `192.1680.1.1`.
fn name_passes(n: &str, record_name: &str) -> bool {
    if n.is_empty() || n == record_name {
        return true;
    }
    record_name
        .strip_prefix(n)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// Every filter that reads only the name passes `name` (an empty list passes).
pub fn names_pass(filters: &[Filter], name: &str) -> bool {
    filters.iter().all(|f| match f {
        Filter::Name(n) => name_passes(n, name),
        Filter::Syslog(_) => true,
    })
}

/// All filters pass the record (an empty list passes).
pub fn all_pass(filters: &[Filter], record: &LogRecord<'_>) -> bool {
    filters.iter().all(|f| f.passes(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_by_whole_components() {
        let f = |n: &str| name_passes("192.168", n);
        assert!(f("192.168"));
        assert!(f("192.168.1.1"));
        assert!(!f("192.1680.1.1"));
        assert!(!f("192.16"));
        assert!(!f("10.0.0.1"));
        assert!(name_passes("", "anything"));
        assert!(names_pass(&[], "x"));
        assert!(!names_pass(&[Filter::new("10".into())], "11.0.0.1"));
    }
}
