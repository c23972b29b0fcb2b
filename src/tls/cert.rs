//! What a certificate says about itself: the names it serves, its issuer and validity.
//!
//! SNI picks a certificate by these names, and `weir check` lists them. The names are
//! the subject alternative names of type DNS, or the subject's common name when the
//! certificate has none (as old self-signed ones do).
//!
//! A few dozen lines of DER reading instead of an X.509 crate: weir needs five fields,
//! and x509-parser added 165 KB to a binary already over its 3 MiB budget. Nothing
//! here decides trust: rustls and webpki verify certificates; this only describes them.

use std::path::Path;

/// A certificate's names, issuer and expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// DNS names, lowercased: exact (`www.example.com`) or wildcard (`*.example.com`).
    pub names: Vec<String>,
    /// The subject's name, `CN=..., O=...`.
    pub subject: String,
    pub issuer: String,
    /// Seconds since the Unix epoch before which the certificate is not yet valid.
    pub not_before: i64,
    /// Seconds since the Unix epoch after which the certificate is no longer valid.
    pub not_after: i64,
    /// `not_after` as text, for people (`2026-03-01 12:00:00 UTC`).
    pub not_after_text: String,
}

/// The leaf certificate of the chain in `path` (PEM), described.
pub fn read(path: &Path) -> Result<CertInfo, String> {
    let chain = super::pem::chain(path)?;
    info(&chain[0]).map_err(|why| format!("{}: {why}", path.display()))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[3]`, constructed: the extensions of a v3 certificate.
const EXTENSIONS: u8 = 0xa3;
/// `dNSName [2] IA5String` in a GeneralName.
const DNS_NAME: u8 = 0x82;
/// 2.5.29.17, subjectAltName.
const SAN: &[u8] = &[0x55, 0x1d, 0x11];
/// 2.5.4.3, commonName.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// The name attributes shown, by the last byte of their 2.5.4.x OID.
const ATTRIBUTES: &[(u8, &str)] = &[
    (3, "CN"),
    (6, "C"),
    (7, "L"),
    (8, "ST"),
    (10, "O"),
    (11, "OU"),
];

/// DER elements one after another.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// The next element's tag and contents.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |l, &b| (l << 8) | usize::from(b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        self.0 = &rest[len..];
        Some((tag, &rest[..len]))
    }

    /// The next element, which must have `tag`.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        self.next().filter(|(t, _)| *t == tag).map(|(_, c)| c)
    }
}

/// Reads a DER certificate.
pub fn info(der: &[u8]) -> Result<CertInfo, String> {
    parse(der).ok_or_else(|| "not a valid X.509 certificate".to_string())
}

fn parse(der: &[u8]) -> Option<CertInfo> {
    let cert = Der(der).expect(SEQUENCE)?;
    let mut tbs = Der(Der(cert).expect(SEQUENCE)?);
    let (mut tag, mut field) = tbs.next()?;
    if tag == 0xa0 {
        (tag, field) = tbs.next()?; // the version; then the serial number
    }
    let _serial = (tag == 0x02).then_some(field)?;
    tbs.expect(SEQUENCE)?; // signature algorithm
    let issuer = tbs.expect(SEQUENCE)?;
    let mut validity = Der(tbs.expect(SEQUENCE)?);
    let (time_tag, time) = validity.next()?;
    let not_before = unix_time(time_tag, time)?;
    let (time_tag, time) = validity.next()?;
    let not_after = unix_time(time_tag, time)?;
    let subject = tbs.expect(SEQUENCE)?;
    tbs.expect(SEQUENCE)?; // the public key
    let mut names = Vec::new();
    while let Some((tag, field)) = tbs.next() {
        if tag == EXTENSIONS {
            names = san_dns_names(field)?;
        }
    }
    if names.is_empty() {
        names.extend(
            attributes(subject)
                .filter(|(oid, _)| *oid == COMMON_NAME)
                .map(|(_, v)| v.to_ascii_lowercase()),
        );
    }
    Some(CertInfo {
        names,
        subject: show_name(subject),
        issuer: show_name(issuer),
        not_before,
        not_after,
        not_after_text: show_time(not_after),
    })
}

/// The DNS names in the subjectAltName extension, if the certificate has one.
fn san_dns_names(extensions: &[u8]) -> Option<Vec<String>> {
    let mut list = Der(Der(extensions).expect(SEQUENCE)?);
    let mut names = Vec::new();
    while let Some(ext) = list.expect(SEQUENCE) {
        let mut ext = Der(ext);
        if ext.expect(OID)? != SAN {
            continue;
        }
        let (mut tag, mut value) = ext.next()?;
        if tag == 0x01 {
            (tag, value) = ext.next()?; // `critical`
        }
        let general = Der((tag == 0x04).then_some(value)?).expect(SEQUENCE)?;
        let mut general = Der(general);
        while let Some((tag, name)) = general.next() {
            if tag == DNS_NAME {
                names.push(String::from_utf8_lossy(name).to_ascii_lowercase());
            }
        }
    }
    Some(names)
}

/// A Name's attributes in order: (OID, value as text).
fn attributes(name: &[u8]) -> impl Iterator<Item = (&[u8], String)> {
    let mut rdns = Der(name);
    std::iter::from_fn(move || rdns.expect(SET)).flat_map(|set| {
        let mut set = Der(set);
        std::iter::from_fn(move || {
            let mut atv = Der(set.expect(SEQUENCE)?);
            let oid = atv.expect(OID)?;
            let (_, value) = atv.next()?;
            Some((oid, String::from_utf8_lossy(value).into_owned()))
        })
    })
}

/// `CN=..., O=...` with the attributes people read.
fn show_name(name: &[u8]) -> String {
    let shown: Vec<String> = attributes(name)
        .filter_map(|(oid, value)| {
            let last = oid
                .strip_prefix(&[0x55, 0x04][..])
                .filter(|o| o.len() == 1)?[0];
            let (_, label) = ATTRIBUTES.iter().find(|(n, _)| *n == last)?;
            Some(format!("{label}={value}"))
        })
        .collect();
    shown.join(", ")
}

/// UTCTime (`YYMMDDHHMMSSZ`, 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as
/// seconds since the epoch.
fn unix_time(tag: u8, text: &[u8]) -> Option<i64> {
    let digits = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (year, rest) = match tag {
        UTC_TIME => {
            let yy = digits(text.get(..2)?)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        GENERALIZED_TIME => (digits(text.get(..4)?)?, &text[4..]),
        _ => return None,
    };
    if rest.len() < 11 || rest[10] != b'Z' {
        return None;
    }
    let field = |i: usize| digits(&rest[i..i + 2]);
    let (month, day) = (field(0)?, field(2)?);
    let (h, m, s) = (field(4)?, field(6)?, field(8)?);
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-03-01 12:00:00 UTC`.
fn show_time(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // The inverse of `days_from_civil`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_both_ways() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(unix_time(UTC_TIME, b"000301000000Z"), Some(951_868_800));
        assert_eq!(
            unix_time(GENERALIZED_TIME, b"20380119031408Z"),
            Some(2_147_483_648)
        );
        assert_eq!(unix_time(UTC_TIME, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(show_time(951_868_800), "2000-03-01 00:00:00 UTC");
        assert_eq!(show_time(2_147_483_648), "2038-01-19 03:14:08 UTC");
        assert_eq!(unix_time(UTC_TIME, b"0003010000"), None);
    }

    #[test]
    fn reads_names_issuer_and_expiry_of_a_real_certificate() {
        let mut params =
            rcgen::CertificateParams::new(vec!["A.test".into(), "*.b.test".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "site");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "weir");
        params.not_before = rcgen::date_time_ymd(2030, 1, 2);
        params.not_after = rcgen::date_time_ymd(2031, 7, 4);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let info = info(cert.der()).unwrap();
        assert_eq!(info.names, ["a.test", "*.b.test"]);
        assert_eq!(info.subject, "CN=site, O=weir");
        assert_eq!(info.issuer, "CN=site, O=weir");
        assert_eq!(info.not_after_text, "2031-07-04 00:00:00 UTC");
        assert_eq!(show_time(info.not_before), "2030-01-02 00:00:00 UTC");
        // Without subject alternative names, the common name serves.
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Old.Example");
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(info_names(cert.der()), ["old.example"]);
    }

    fn info_names(der: &[u8]) -> Vec<String> {
        info(der).unwrap().names
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        for bad in [
            &b""[..],
            b"\x30",
            b"\x30\x84\xff\xff\xff\xff",
            b"\x30\x03\x30\x01",
        ] {
            assert!(info(bad).is_err());
        }
    }
}
