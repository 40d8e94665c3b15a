//! `pysyslog.filters.SyslogFilter`: a filter on a record's syslog attributes
//! (`--parse-syslog`), what `syslog.conf` selectors and rsyslog's property
//! filters do, written in dictConfig.
//!
//! Owns: the criteria and how a record meets them. Does not own: reading them
//! from the configuration (`config/syslog_filter_args.rs`) or the attributes
//! themselves ([`super::attrs`]).
//!
//! A record meets the filter when it meets every criterion given; a list
//! means any of its values. `severity` is that severity and every more
//! urgent one (`warning` passes emerg to warning), as a `syslog.conf`
//! selector's is. A record without syslog attributes (the collector runs
//! without `--parse-syslog`, or one of its own messages) meets no criterion,
//! and a line that is not syslog meets no `facility` or `severity`.

use std::net::IpAddr;

use regex::Regex;

use super::attrs::Attr;
use super::record::LogRecord;
use crate::cidr::CidrSet;

/// The criteria of one SyslogFilter.
#[derive(Debug, Clone, Default)]
pub struct SyslogFilter {
    /// Facility codes, any of.
    pub facility: Option<Vec<u8>>,
    /// The least urgent severity code that passes.
    pub severity: Option<u8>,
    /// Attributes that must equal one of their values.
    pub equal: Vec<(Attr, Vec<String>)>,
    /// Networks the peer must be in.
    pub peer: Option<CidrSet>,
    /// Searched in `syslog_message` (the whole line when it is not syslog).
    /// The `regex` crate runs in time linear in the text: no pattern can
    /// make a line take long (no catastrophic backtracking).
    pub message_regex: Option<Regex>,
}

impl SyslogFilter {
    pub fn passes(&self, record: &LogRecord<'_>) -> bool {
        let Some(attrs) = record.attrs else {
            return false;
        };
        let header = attrs.header.as_ref();
        if let Some(codes) = &self.facility {
            if !header.is_some_and(|h| codes.contains(&h.facility())) {
                return false;
            }
        }
        if let Some(least) = self.severity {
            if !header.is_some_and(|h| h.severity() <= least) {
                return false;
            }
        }
        for (attr, values) in &self.equal {
            let text = attrs.text(*attr).unwrap_or_default();
            if !values.iter().any(|v| v == text) {
                return false;
            }
        }
        if let Some(networks) = &self.peer {
            match attrs.origin.peer.parse::<IpAddr>() {
                Ok(ip) if networks.contains(ip) => {}
                _ => return false,
            }
        }
        if let Some(re) = &self.message_regex {
            let text = attrs.text(Attr::SyslogMessage).unwrap_or_default();
            if !re.is_match(text) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::attrs::{Origin, SyslogAttrs};

    fn passes(f: &SyslogFilter, peer: &str, line: &str) -> bool {
        let attrs = SyslogAttrs::of(
            Origin {
                peer,
                transport: "tcp",
                listener: "tcp://127.0.0.1:514",
                tls_client_name: None,
            },
            line,
        );
        f.passes(&LogRecord {
            name: peer,
            msg: line,
            levelno: 20,
            created: 0.0,
            relative_created: 0.0,
            attrs: Some(&attrs),
        })
    }

    const AUTH_INFO: &str = "<38>Oct 11 22:14:15 h sshd[42]: Accepted";
    const MAIL_ERR: &str = "<19>Oct 11 22:14:15 h postfix/smtpd[7]: lost";

    #[test]
    fn facility_severity_and_equality_criteria() {
        let f = SyslogFilter {
            facility: Some(vec![4, 10]),
            ..SyslogFilter::default()
        };
        assert!(passes(&f, "10.0.0.1", AUTH_INFO));
        assert!(!passes(&f, "10.0.0.1", MAIL_ERR));
        assert!(!passes(&f, "10.0.0.1", "not syslog"));
        let f = SyslogFilter {
            severity: Some(3),
            ..SyslogFilter::default()
        };
        assert!(!passes(&f, "10.0.0.1", AUTH_INFO));
        assert!(passes(&f, "10.0.0.1", MAIL_ERR));
        let f = SyslogFilter {
            equal: vec![(Attr::Appname, vec!["sshd".into(), "su".into()])],
            ..SyslogFilter::default()
        };
        assert!(passes(&f, "10.0.0.1", AUTH_INFO));
        assert!(!passes(&f, "10.0.0.1", MAIL_ERR));
    }

    #[test]
    fn peer_networks_and_message_regex() {
        let f = SyslogFilter {
            peer: Some(CidrSet::new(vec!["10.0.0.0/8".parse().unwrap()])),
            message_regex: Some(Regex::new("^Acc").unwrap()),
            ..SyslogFilter::default()
        };
        assert!(passes(&f, "10.1.2.3", AUTH_INFO));
        assert!(!passes(&f, "192.0.2.1", AUTH_INFO));
        assert!(!passes(&f, "10.1.2.3", MAIL_ERR));
    }

    #[test]
    fn a_record_without_attributes_passes_no_syslog_filter() {
        let record = LogRecord {
            name: "10.0.0.1",
            msg: AUTH_INFO,
            levelno: 20,
            created: 0.0,
            relative_created: 0.0,
            attrs: None,
        };
        assert!(!SyslogFilter {
            severity: Some(7),
            ..SyslogFilter::default()
        }
        .passes(&record));
        assert!(!SyslogFilter::default().passes(&record));
    }
}
