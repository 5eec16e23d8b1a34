//! Virtual-host-style addressing: `BUCKET.DOMAIN[:port]` names the bucket; any other host
//! (an IP address, `localhost`, the bare domain) means path style. s3s's `SingleDomain`
//! neither ignores the port nor falls back to path style for unknown hosts (it reads them as
//! CNAME buckets), which breaks clients that reach the gateway by IP, hence this parser.

use s3s::host::{S3Host, VirtualHost};
use s3s::S3Result;

#[derive(Debug)]
pub struct VirtualHostDomain {
    domain: String,
}

impl VirtualHostDomain {
    pub fn new(domain: &str) -> Result<Self, String> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let valid = !domain.is_empty()
            && domain.split('.').all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !valid {
            return Err(format!("'{domain}' is not a valid domain name"));
        }
        Ok(Self { domain })
    }

    /// `Some("b")` for `b.DOMAIN`, else `None`.
    fn bucket_of<'a>(&self, host: &'a str) -> Option<&'a str> {
        let cut = host.len().checked_sub(self.domain.len() + 1)?;
        if cut == 0 || !host.is_char_boundary(cut) {
            return None;
        }
        let (bucket, suffix) = host.split_at(cut);
        (suffix.starts_with('.') && suffix[1..].eq_ignore_ascii_case(&self.domain)).then_some(bucket)
    }
}

impl S3Host for VirtualHostDomain {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let without_port = match host.rsplit_once(':') {
            Some((h, port)) if !h.ends_with(']') && port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        let bucket = self.bucket_of(without_port);
        Ok(match bucket {
            Some(b) => VirtualHost::new(self.domain.as_str()).with_bucket(b),
            None => VirtualHost::new(without_port),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_come_from_subdomains_only() {
        let h = VirtualHostDomain::new("s3.example.com").unwrap();
        let bucket = |host: &str| h.parse_host_header(host).unwrap().bucket().map(str::to_owned);
        assert_eq!(bucket("photos.s3.example.com"), Some("photos".into()));
        assert_eq!(bucket("photos.s3.example.com:9000"), Some("photos".into()));
        assert_eq!(bucket("my.dotted.bucket.s3.example.com"), Some("my.dotted.bucket".into()));
        assert_eq!(bucket("s3.example.com:9000"), None);
        assert_eq!(bucket("127.0.0.1:9000"), None);
        assert_eq!(bucket("localhost"), None);
        assert_eq!(bucket("[::1]:9000"), None);
        assert_eq!(bucket("xs3.example.com"), None);
        assert!(VirtualHostDomain::new("bad domain").is_err());
    }
}
