//! Facility and severity names, and the severity-to-level mapping: the one
//! table each of them has in the collector.
//!
//! Owns: the canonical name of every code, the aliases accepted when a
//! configuration names one, and which Python `logging` level a severity
//! becomes. Does not own: where names appear (configuration, routing, record
//! attributes).
//!
//! Canonical names are Python `SysLogHandler.facility_names` and
//! `priority_names`, since configurations are written by Python users; codes
//! 13-15 are where the tools disagree, so the names rsyslog (`audit`,
//! `alert`, `clock`) and syslog_loose/Vector (`clockd`) give them are
//! accepted too. `security` means 13 as in Python and syslog-ng, not the
//! deprecated BSD alias of `auth`.

/// Python SysLogHandler's names by code.
pub const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// Severity names by code, the same in Python, rsyslog and syslog-ng.
pub const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Other tools' names for facilities 13-15.
const FACILITY_ALIASES: [(&str, u8); 4] =
    [("audit", 13), ("alert", 14), ("clock", 15), ("clockd", 15)];

/// Python `priority_names` and syslog-ng aliases.
const SEVERITY_ALIASES: [(&str, u8); 6] = [
    ("panic", 0),
    ("emergency", 0),
    ("critical", 2),
    ("error", 3),
    ("warn", 4),
    ("informational", 6),
];

/// The code of a facility name or alias, case-insensitively.
pub fn facility_code(name: &str) -> Option<u8> {
    code(&FACILITIES, &FACILITY_ALIASES, name)
}

/// The code of a severity name or alias, case-insensitively.
pub fn severity_code(name: &str) -> Option<u8> {
    code(&SEVERITIES, &SEVERITY_ALIASES, name)
}

fn code(names: &[&str], aliases: &[(&str, u8)], name: &str) -> Option<u8> {
    let canonical = names.iter().position(|n| n.eq_ignore_ascii_case(name));
    canonical.and_then(|i| u8::try_from(i).ok()).or_else(|| {
        aliases
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
            .map(|&(_, c)| c)
    })
}

/// The Python `logging` level of a severity, the inverse of
/// `SysLogHandler.priority_map`: 0-2 CRITICAL, 3 ERROR, 4 WARNING, 5-6 INFO,
/// 7 DEBUG. A value above 7 is no severity; it is taken as DEBUG, the least
/// alarming, rather than as a panic.
pub fn level_of_severity(severity: u8) -> i32 {
    match severity {
        0..=2 => 50,
        3 => 40,
        4 => 30,
        5 | 6 => 20,
        _ => 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for (c, n) in FACILITIES.iter().enumerate() {
            assert_eq!(facility_code(n), Some(c as u8), "{n}");
            assert_eq!(facility_code(&n.to_uppercase()), Some(c as u8), "{n}");
        }
        for (c, n) in SEVERITIES.iter().enumerate() {
            assert_eq!(severity_code(n), Some(c as u8), "{n}");
            assert_eq!(severity_code(&n.to_uppercase()), Some(c as u8), "{n}");
        }
    }

    #[test]
    fn aliases() {
        for (n, c) in [
            ("audit", 13),
            ("security", 13),
            ("ALERT", 14),
            ("console", 14),
            ("clock", 15),
            ("clockd", 15),
            ("Solaris-Cron", 15),
            ("Local7", 23),
        ] {
            assert_eq!(facility_code(n), Some(c), "{n}");
        }
        for (n, c) in [
            ("panic", 0),
            ("Emergency", 0),
            ("critical", 2),
            ("ERROR", 3),
            ("warn", 4),
            ("informational", 6),
        ] {
            assert_eq!(severity_code(n), Some(c), "{n}");
        }
        for n in ["", "local8", "kernel", "fatal", "info ", "warnin"] {
            assert_eq!(facility_code(n), None, "{n}");
            assert_eq!(severity_code(n), None, "{n}");
        }
    }

    #[test]
    fn levels() {
        let levels: Vec<i32> = (0..=8).map(level_of_severity).collect();
        assert_eq!(levels, [50, 50, 50, 40, 30, 20, 20, 10, 10]);
        assert_eq!(level_of_severity(255), 10);
    }
}
