//! The validity period of an X.509 certificate, read from its DER.
//!
//! Owns: walking just far enough into a certificate (RFC 5280 §4.1) to find
//! `notBefore` and `notAfter`. Does not own: verification (rustls/webpki do
//! that); this only feeds a start-up warning, so any parse failure is `None`.

/// One DER element: (tag, contents, rest).
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (
            rest[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | b as usize),
            &rest[n..],
        )
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// `(notBefore, notAfter)` as Unix seconds.
pub fn validity(cert_der: &[u8]) -> Option<(i64, i64)> {
    let (0x30, cert, _) = element(cert_der)? else {
        return None;
    };
    let (0x30, tbs, _) = element(cert)? else {
        return None;
    };
    let mut rest = tbs;
    let (tag, _, after) = element(rest)?;
    if tag == 0xa0 {
        rest = after; // explicit version
    }
    for _ in 0..3 {
        rest = element(rest)?.2; // serialNumber, signature, issuer
    }
    let (0x30, validity, _) = element(rest)? else {
        return None;
    };
    let (t1, not_before, rest) = element(validity)?;
    let (t2, not_after, _) = element(rest)?;
    Some((parse_time(t1, not_before)?, parse_time(t2, not_after)?))
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn parse_time(tag: u8, s: &[u8]) -> Option<i64> {
    let digits = |b: &[u8]| -> Option<i64> {
        b.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (year, rest) = match tag {
        0x17 if s.len() == 13 => {
            let yy = digits(&s[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        0x18 if s.len() == 15 => (digits(&s[..4])?, &s[4..]),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let (month, day) = (digits(&rest[0..2])?, digits(&rest[2..4])?);
    let (h, m, sec) = (
        digits(&rest[4..6])?,
        digits(&rest[6..8])?,
        digits(&rest[8..10])?,
    );
    Some(days_from_civil(year, month, day)? * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(parse_time(0x17, b"200101000000Z"), Some(1_577_836_800));
        assert_eq!(parse_time(0x18, b"20210101000000Z"), Some(1_609_459_200));
        assert_eq!(parse_time(0x17, b"20010100000Z"), None);
    }

    #[test]
    fn reads_the_expired_fixture() {
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/tls/expired.pem"
        ))
        .expect("fixture");
        let der = CertificateDer::from_pem_slice(&pem).expect("pem");
        // The fixture was made with -startdate 20200101000000Z -enddate 20210101000000Z.
        assert_eq!(validity(&der), Some((1_577_836_800, 1_609_459_200)));
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(validity(b"\x30\x82\xff\xff"), None);
        assert_eq!(validity(b""), None);
    }
}
