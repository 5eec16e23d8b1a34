//! Bucket CORS as S3 has it: the rules a bucket keeps (stored as they are here, converted from
//! and back into s3s's `CORSConfiguration`), PutBucketCors's validation with S3's errors, and
//! the matching S3 does for a preflight (`OPTIONS` with `Access-Control-Request-*`) and for
//! an actual request (its `Origin` and method), with the response headers of a match.
//!
//! A leaf: it imports nothing of Granary but `limits`; `meta::bucket_cors` stores the rules,
//! `s3::cors_ops` serves Put/Get/DeleteBucketCors, `edge::cors` answers on the wire.
//!
//! S3's rules, as implemented here:
//! - The first rule that matches wins, and decides every header of the answer.
//! - An origin matches `AllowedOrigin` byte for byte (case matters); one `*` in the pattern
//!   stands for any run of characters, the text around it must not overlap.
//! - A preflight matches a rule only if every header it names matches one of the rule's
//!   `AllowedHeader`s (case-insensitive, `*` wildcards). Actual requests ignore them.
//! - The answer allows the origin `*` when the matched rule lists the literal `*`, and then
//!   no credentials; otherwise it echoes the request's origin with credentials allowed.

use crate::limits::{CORS_CONFIGURATION_MAX_BYTES, CORS_PREFLIGHT_HEADERS_MAX_COUNT, CORS_RULES_MAX_COUNT, CORS_RULE_ID_MAX_CHARS};
use s3s::dto::{CORSConfiguration, CORSRule};
use serde::{Deserialize, Serialize};

/// The methods a rule may allow (S3 allows no others, in this spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    Get,
    Put,
    Post,
    Delete,
    Head,
}

impl Method {
    /// The method named exactly `name` (upper case, as HTTP spells it).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "GET" => Method::Get,
            "PUT" => Method::Put,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
        }
    }
}

/// One `CORSRule`, its lists in the order they were given (GetBucketCors returns them so).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<Method>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<u32>,
}

/// A bucket's CORS configuration: 1 to `CORS_RULES_MAX_COUNT` rules, checked by `from_dto`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsConfig {
    pub rules: Vec<Rule>,
}

/// PutBucketCors's refusals, with S3's codes (both 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorsError {
    /// The document's structure: no rule, too many, too large, a value out of its range.
    #[error("{0}")]
    MalformedXml(String),
    /// A value S3 does not support: a method, an origin or header with two wildcards, a
    /// wildcard in an exposed header.
    #[error("{0}")]
    InvalidRequest(String),
}

impl CorsError {
    /// S3's error code.
    pub fn code(&self) -> &'static str {
        match self {
            CorsError::MalformedXml(_) => "MalformedXML",
            CorsError::InvalidRequest(_) => "InvalidRequest",
        }
    }
}

/// S3's own texts for the wildcard refusals.
fn too_many_wildcards(element: &str, value: &str) -> CorsError {
    CorsError::InvalidRequest(format!("{element} \"{value}\" can not have more than one wildcard."))
}

fn at_most_one_wildcard(value: &str) -> bool {
    value.bytes().filter(|&b| b == b'*').count() <= 1
}

impl CorsConfig {
    /// The configuration PutBucketCors was given, validated as S3 validates it: the
    /// structure of the whole document first (MalformedXML), then each rule's values in
    /// order (InvalidRequest: methods, then origins, allowed headers, exposed headers).
    pub fn from_dto(dto: CORSConfiguration) -> Result<Self, CorsError> {
        let rules = dto.cors_rules;
        if rules.is_empty() || rules.len() > CORS_RULES_MAX_COUNT {
            return Err(CorsError::MalformedXml(format!("A CORS configuration has 1 to {CORS_RULES_MAX_COUNT} rules.")));
        }
        for rule in &rules {
            if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
                return Err(CorsError::MalformedXml("Every CORSRule needs an AllowedOrigin and an AllowedMethod.".into()));
            }
            if rule.id.as_ref().is_some_and(|id| id.chars().count() > CORS_RULE_ID_MAX_CHARS) {
                return Err(CorsError::MalformedXml(format!("A CORSRule's ID is at most {CORS_RULE_ID_MAX_CHARS} characters.")));
            }
            if rule.max_age_seconds.is_some_and(|s| s < 0) {
                return Err(CorsError::MalformedXml("MaxAgeSeconds cannot be negative.".into()));
            }
        }
        let mut converted = Vec::with_capacity(rules.len());
        for rule in rules {
            converted.push(Self::rule_of(rule)?);
        }
        let config = CorsConfig { rules: converted };
        if config.document_bytes() > CORS_CONFIGURATION_MAX_BYTES {
            return Err(CorsError::MalformedXml(format!("The CORS configuration is limited to {CORS_CONFIGURATION_MAX_BYTES} bytes.")));
        }
        Ok(config)
    }

    fn rule_of(rule: CORSRule) -> Result<Rule, CorsError> {
        let allowed_methods = rule
            .allowed_methods
            .iter()
            .map(|m| {
                Method::parse(m).ok_or_else(|| {
                    CorsError::InvalidRequest(format!("Found unsupported HTTP method in CORS config. Unsupported method is {m}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(origin) = rule.allowed_origins.iter().find(|o| !at_most_one_wildcard(o)) {
            return Err(too_many_wildcards("AllowedOrigin", origin));
        }
        let allowed_headers = rule.allowed_headers.unwrap_or_default();
        if let Some(header) = allowed_headers.iter().find(|h| !at_most_one_wildcard(h)) {
            return Err(too_many_wildcards("AllowedHeader", header));
        }
        let expose_headers = rule.expose_headers.unwrap_or_default();
        if let Some(header) = expose_headers.iter().find(|h| h.contains('*')) {
            return Err(CorsError::InvalidRequest(format!(
                "ExposeHeader \"{header}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
            )));
        }
        Ok(Rule {
            id: rule.id,
            allowed_origins: rule.allowed_origins,
            allowed_methods,
            allowed_headers,
            expose_headers,
            // Checked non-negative above.
            max_age_seconds: rule.max_age_seconds.and_then(|s| u32::try_from(s).ok()),
        })
    }

    /// The rules as GetBucketCors returns them.
    pub fn to_dto(&self) -> Vec<CORSRule> {
        let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        self.rules
            .iter()
            .map(|r| CORSRule {
                id: r.id.clone(),
                allowed_origins: r.allowed_origins.clone(),
                allowed_methods: r.allowed_methods.iter().map(|m| m.as_str().to_owned()).collect(),
                allowed_headers: non_empty(&r.allowed_headers),
                expose_headers: non_empty(&r.expose_headers),
                // At most i32::MAX: it came from one.
                max_age_seconds: r.max_age_seconds.map(|s| i32::try_from(s).unwrap_or(i32::MAX)),
            })
            .collect()
    }

    /// The length of the configuration as an XML document (`<CORSConfiguration>` with one
    /// element per value, values unescaped): what S3's 64 KB limit is about, computed
    /// without writing it.
    pub fn document_bytes(&self) -> usize {
        // `<Name>` + `</Name>` around each value.
        let element = |name: &str, value_len: usize| 2 * name.len() + 5 + value_len;
        let list = |name: &str, values: &[String]| values.iter().map(|v| element(name, v.len())).sum::<usize>();
        let rules: usize = self
            .rules
            .iter()
            .map(|r| {
                element("CORSRule", 0)
                    + r.id.as_ref().map_or(0, |id| element("ID", id.len()))
                    + list("AllowedOrigin", &r.allowed_origins)
                    + r.allowed_methods.iter().map(|m| element("AllowedMethod", m.as_str().len())).sum::<usize>()
                    + list("AllowedHeader", &r.allowed_headers)
                    + list("ExposeHeader", &r.expose_headers)
                    + r.max_age_seconds.map_or(0, |s| element("MaxAgeSeconds", s.to_string().len()))
            })
            .sum();
        element("CORSConfiguration", rules)
    }

    /// A preflight: the first rule that allows `origin`, `method` and every header of
    /// `request_headers` (lower-cased names, as `requested_headers` gives them).
    pub fn preflight<'a>(&'a self, origin: &'a str, method: Method, request_headers: &[String]) -> Option<Match<'a>> {
        self.rules.iter().find_map(|rule| {
            let allowed = rule.allowed_methods.contains(&method)
                && request_headers.iter().all(|h| rule.allowed_headers.iter().any(|p| header_matches(p, h)));
            allowed.then(|| rule.origin_match(origin)).flatten()
        })
    }

    /// An actual request: the first rule that allows `origin` and `method`.
    pub fn actual<'a>(&'a self, origin: &'a str, method: Method) -> Option<Match<'a>> {
        self.rules.iter().filter(|rule| rule.allowed_methods.contains(&method)).find_map(|rule| rule.origin_match(origin))
    }
}

impl Rule {
    fn origin_match<'a>(&'a self, origin: &'a str) -> Option<Match<'a>> {
        if !self.allowed_origins.iter().any(|p| origin_matches(p, origin)) {
            return None;
        }
        let any = self.allowed_origins.iter().any(|p| p == "*");
        Some(Match { rule: self, allow_origin: if any { "*" } else { origin } })
    }
}

/// `pattern` (at most one `*`) against `value`; `eq` compares the literal parts.
fn wildcard_matches(pattern: &str, value: &str, eq: fn(&[u8], &[u8]) -> bool) -> bool {
    let (p, v) = (pattern.as_bytes(), value.as_bytes());
    match pattern.split_once('*') {
        None => p.len() == v.len() && eq(p, v),
        Some((prefix, suffix)) => {
            v.len() >= prefix.len() + suffix.len()
                && eq(&v[..prefix.len()], prefix.as_bytes())
                && eq(&v[v.len() - suffix.len()..], suffix.as_bytes())
        }
    }
}

/// An `AllowedOrigin` pattern against a request's `Origin` (case matters, as in S3).
pub fn origin_matches(pattern: &str, origin: &str) -> bool {
    wildcard_matches(pattern, origin, |a, b| a == b)
}

/// An `AllowedHeader` pattern against a requested header name (case does not matter).
pub fn header_matches(pattern: &str, header: &str) -> bool {
    wildcard_matches(pattern, header, |a, b| a.eq_ignore_ascii_case(b))
}

/// The header names of `Access-Control-Request-Headers`: trimmed, lower-cased, empty ones
/// dropped. `None` when it names more than `CORS_PREFLIGHT_HEADERS_MAX_COUNT` (no browser
/// does; it bounds the work of matching an unauthenticated request).
pub fn requested_headers(value: &str) -> Option<Vec<String>> {
    let names: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .take(CORS_PREFLIGHT_HEADERS_MAX_COUNT + 1)
        .map(str::to_ascii_lowercase)
        .collect();
    (names.len() <= CORS_PREFLIGHT_HEADERS_MAX_COUNT).then_some(names)
}

/// The rule a request matched, and the origin the answer allows (`*` or the request's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match<'a> {
    pub rule: &'a Rule,
    pub allow_origin: &'a str,
}

/// What S3 varies its CORS answers on.
pub const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

impl Match<'_> {
    /// The response headers of the match, in S3's order; `request_headers` are the headers a
    /// preflight asked for (allowed back as asked), empty for an actual request.
    pub fn headers(&self, request_headers: &[String]) -> Vec<(&'static str, String)> {
        let mut out = vec![("access-control-allow-origin", self.allow_origin.to_owned())];
        let methods: Vec<&str> = self.rule.allowed_methods.iter().map(|m| m.as_str()).collect();
        out.push(("access-control-allow-methods", methods.join(", ")));
        if !request_headers.is_empty() {
            out.push(("access-control-allow-headers", request_headers.join(", ")));
        }
        if !self.rule.expose_headers.is_empty() {
            out.push(("access-control-expose-headers", self.rule.expose_headers.join(", ")));
        }
        if let Some(age) = self.rule.max_age_seconds {
            out.push(("access-control-max-age", age.to_string()));
        }
        if self.allow_origin != "*" {
            out.push(("access-control-allow-credentials", "true".to_owned()));
        }
        out.push(("vary", VARY.to_owned()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dto_rule(origins: &[&str], methods: &[&str]) -> CORSRule {
        CORSRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn config(rules: Vec<CORSRule>) -> Result<CorsConfig, CorsError> {
        CorsConfig::from_dto(CORSConfiguration { cors_rules: rules })
    }

    fn rule(origins: &[&str], methods: &[Method], headers: &[&str]) -> Rule {
        Rule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.to_vec(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn documents_round_trip_in_their_order() {
        let given = vec![
            CORSRule {
                id: Some("site".into()),
                allowed_origins: vec!["https://example.com".into(), "https://*.example.org".into()],
                allowed_methods: vec!["PUT".into(), "GET".into()],
                allowed_headers: Some(vec!["x-amz-*".into(), "Content-Type".into()]),
                expose_headers: Some(vec!["ETag".into()]),
                max_age_seconds: Some(3000),
            },
            dto_rule(&["*"], &["HEAD"]),
        ];
        let parsed = config(given.clone()).unwrap();
        assert_eq!(parsed.rules[0].allowed_methods, vec![Method::Put, Method::Get]);
        assert_eq!(parsed.to_dto(), given);
        assert_eq!(crate::codec::decode::<CorsConfig>(&crate::codec::encode(&parsed)).unwrap(), parsed);
    }

    #[test]
    fn structure_is_checked_before_values() {
        let malformed = |r: Result<CorsConfig, CorsError>| matches!(r, Err(CorsError::MalformedXml(_)));
        assert!(malformed(config(vec![])));
        assert!(config(vec![dto_rule(&["*"], &["GET"]); CORS_RULES_MAX_COUNT]).is_ok());
        assert!(malformed(config(vec![dto_rule(&["*"], &["GET"]); CORS_RULES_MAX_COUNT + 1])));
        assert!(malformed(config(vec![dto_rule(&[], &["GET"])])));
        assert!(malformed(config(vec![dto_rule(&["*"], &[])])));
        let negative = CORSRule { max_age_seconds: Some(-1), ..dto_rule(&["*"], &["PATCH"]) };
        assert!(malformed(config(vec![negative])), "MalformedXML before the method's InvalidRequest");
        let long_id = CORSRule { id: Some("a".repeat(CORS_RULE_ID_MAX_CHARS + 1)), ..dto_rule(&["*"], &["GET"]) };
        assert!(malformed(config(vec![long_id])));
        let ok_id = CORSRule { id: Some("a".repeat(CORS_RULE_ID_MAX_CHARS)), ..dto_rule(&["*"], &["GET"]) };
        assert!(config(vec![ok_id]).is_ok());
        let big = dto_rule(&[&"o".repeat(700)], &["GET"]);
        assert!(malformed(config(vec![big; CORS_RULES_MAX_COUNT])), "over the size bound");
    }

    #[test]
    fn values_get_s3s_invalid_request_texts_in_s3s_order() {
        let invalid = |r: Result<CorsConfig, CorsError>| match r {
            Err(CorsError::InvalidRequest(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            invalid(config(vec![dto_rule(&["*.*"], &["GET", "PATCH"])])),
            "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"
        );
        assert_eq!(
            invalid(config(vec![dto_rule(&["*"], &["get"])])),
            "Found unsupported HTTP method in CORS config. Unsupported method is get"
        );
        assert_eq!(
            invalid(config(vec![dto_rule(&["https://a.com", "https://*.example.*"], &["GET"])])),
            "AllowedOrigin \"https://*.example.*\" can not have more than one wildcard."
        );
        let headers = CORSRule { allowed_headers: Some(vec!["x-*-meta-*".into()]), ..dto_rule(&["*"], &["GET"]) };
        assert_eq!(invalid(config(vec![headers])), "AllowedHeader \"x-*-meta-*\" can not have more than one wildcard.");
        let expose = CORSRule { expose_headers: Some(vec!["x-amz-*".into()]), ..dto_rule(&["*"], &["GET"]) };
        assert_eq!(
            invalid(config(vec![dto_rule(&["*"], &["GET"]), expose])),
            "ExposeHeader \"x-amz-*\" contains wildcard. We currently do not support wildcard for ExposeHeader."
        );
    }

    #[test]
    fn origins_match_byte_for_byte_around_one_wildcard() {
        for (pattern, origin, expected) in [
            ("*", "https://example.com", true),
            ("https://example.com", "https://example.com", true),
            ("https://example.com", "http://example.com", false),
            ("https://example.com", "https://EXAMPLE.com", false),
            ("https://example.com", "https://example.com:8443", false),
            ("https://*.example.com", "https://a.b.example.com", true),
            ("https://*.example.com", "https://example.com", false),
            ("https://*.example.com", "https://WWW.example.com", true),
            ("https://example.com:*", "https://example.com:8443", true),
            ("http*://example.com", "https://example.com", true),
            ("https://a*a", "https://aa", true),
            ("https://a*a", "https://a", false),
            ("", "", true),
            ("", "https://example.com", false),
        ] {
            assert_eq!(origin_matches(pattern, origin), expected, "{pattern} vs {origin}");
        }
    }

    #[test]
    fn headers_match_without_case() {
        for (pattern, header, expected) in [
            ("content-type", "content-type", true),
            ("Content-Type", "content-type", true),
            ("X-Amz-*", "x-amz-date", true),
            ("x-amz-*", "x-amz", false),
            ("x-amz-*", "x-amzn-trace-id", false),
            ("*", "anything", true),
            ("x-*-id", "x-request-id", true),
            ("x-*-id", "x-id", false),
        ] {
            assert_eq!(header_matches(pattern, header), expected, "{pattern} vs {header}");
        }
        assert_eq!(requested_headers(" Content-Type,X-Amz-Date ,, ").unwrap(), vec!["content-type", "x-amz-date"]);
        assert_eq!(requested_headers("").unwrap(), Vec::<String>::new());
        assert!(requested_headers(&"h,".repeat(CORS_PREFLIGHT_HEADERS_MAX_COUNT + 1)).is_none());
    }

    #[test]
    fn the_first_rule_that_matches_everything_wins() {
        let exact = Rule { id: Some("exact".into()), ..rule(&["https://example.com"], &[Method::Get, Method::Put], &[]) };
        let pattern = Rule { id: Some("pattern".into()), ..rule(&["https://*.com"], &[Method::Get], &["*"]) };
        let any = Rule { id: Some("any".into()), ..rule(&["*"], &[Method::Get, Method::Head], &[]) };
        let c = CorsConfig { rules: vec![exact, pattern, any] };
        let id = |m: Option<Match>| m.and_then(|m| m.rule.id.clone());
        let site = "https://example.com";
        assert_eq!(id(c.preflight(site, Method::Get, &[])).as_deref(), Some("exact"));
        assert_eq!(id(c.preflight(site, Method::Get, &["x-amz-date".into()])).as_deref(), Some("pattern"));
        assert_eq!(id(c.preflight(site, Method::Head, &[])).as_deref(), Some("any"));
        assert_eq!(id(c.preflight(site, Method::Head, &["x-amz-date".into()])), None);
        assert_eq!(id(c.preflight(site, Method::Delete, &[])), None);
        // Actual requests do not look at AllowedHeader.
        assert_eq!(id(c.actual(site, Method::Put)).as_deref(), Some("exact"));
        assert_eq!(id(c.actual("https://other.org", Method::Put)), None);
        assert_eq!(c.actual("https://other.org", Method::Get).unwrap().allow_origin, "*");
        assert_eq!(c.actual(site, Method::Get).unwrap().allow_origin, site);
    }

    #[test]
    fn answers_carry_s3s_headers_in_s3s_order() {
        let r = Rule {
            expose_headers: vec!["ETag".into(), "x-amz-request-id".into()],
            max_age_seconds: Some(3000),
            ..rule(&["https://example.com"], &[Method::Get, Method::Put], &["*"])
        };
        let c = CorsConfig { rules: vec![r] };
        let asked = requested_headers("Content-Type, X-Amz-Date").unwrap();
        let headers = c.preflight("https://example.com", Method::Put, &asked).unwrap().headers(&asked);
        assert_eq!(
            headers,
            vec![
                ("access-control-allow-origin", "https://example.com".to_owned()),
                ("access-control-allow-methods", "GET, PUT".to_owned()),
                ("access-control-allow-headers", "content-type, x-amz-date".to_owned()),
                ("access-control-expose-headers", "ETag, x-amz-request-id".to_owned()),
                ("access-control-max-age", "3000".to_owned()),
                ("access-control-allow-credentials", "true".to_owned()),
                ("vary", VARY.to_owned()),
            ]
        );
        // The literal `*` allows any origin, without credentials, even beside the origin itself.
        let open = CorsConfig { rules: vec![rule(&["https://example.com", "*"], &[Method::Get], &[])] };
        let headers = open.actual("https://example.com", Method::Get).unwrap().headers(&[]);
        assert_eq!(
            headers,
            vec![
                ("access-control-allow-origin", "*".to_owned()),
                ("access-control-allow-methods", "GET".to_owned()),
                ("vary", VARY.to_owned())
            ]
        );
    }
}
