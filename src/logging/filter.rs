//! `logging.Filter(name)`: passes a record whose logger name is `name` or lies
//! below it in the dotted hierarchy.
//!
//! Owns: the name-prefix rule. Does not own: where filters are attached (the
//! manager applies logger filters, handlers apply their own).

/// `logging.Filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    name: String,
}

impl Filter {
    /// `Filter(name)`; `""` passes everything.
    pub fn new(name: String) -> Filter {
        Filter { name }
    }

    /// `Filter.filter`: `"192.168"` passes `192.168.1.1`, not `192.1680.1.1`.
    pub fn passes(&self, record_name: &str) -> bool {
        let n = self.name.as_str();
        if n.is_empty() || n == record_name {
            return true;
        }
        record_name
            .strip_prefix(n)
            .is_some_and(|rest| rest.starts_with('.'))
    }
}

/// All filters pass (an empty list passes).
pub fn all_pass(filters: &[Filter], record_name: &str) -> bool {
    filters.iter().all(|f| f.passes(record_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_by_whole_components() {
        let f = Filter::new("192.168".into());
        assert!(f.passes("192.168"));
        assert!(f.passes("192.168.1.1"));
        assert!(!f.passes("192.1680.1.1"));
        assert!(!f.passes("192.16"));
        assert!(!f.passes("10.0.0.1"));
        assert!(Filter::new(String::new()).passes("anything"));
        assert!(all_pass(&[], "x"));
    }
}
