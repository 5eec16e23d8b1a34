//! The condition keys of one request, as policies see them (`policy::Context`): who asks,
//! from where, when, how it was signed, and what the request says (listing arguments, ACL,
//! encryption, copy source, tags, version). Built once per decision from the request's
//! parts; the keys that need a read (`s3:ExistingObjectTag/...`) are added by the decision
//! only when a policy names them.

use crate::policy::Context;
use http::{HeaderMap, Uri};
use std::net::IpAddr;

/// What the decision knows of the requester for the context.
pub struct Asking<'a> {
    /// `None` for an anonymous request.
    pub user: Option<&'a str>,
    pub is_admin: bool,
    pub source_ip: Option<IpAddr>,
    pub post_form: bool,
    /// The request arrived over TLS (`aws:SecureTransport`; see [`SecureTransport`]).
    pub secure_transport: bool,
}

/// In a request's extensions when it arrived over TLS, or through a trusted proxy that says
/// its client used https (`tls::Transport` sets it for the connection).
#[derive(Debug, Clone, Copy)]
pub struct SecureTransport;

/// Whether the request these extensions belong to carries [`SecureTransport`].
pub fn is_secure(extensions: &http::Extensions) -> bool {
    extensions.get::<SecureTransport>().is_some()
}

/// The context of a request from its URI and headers.
pub fn build(asking: &Asking<'_>, uri: &Uri, headers: &HeaderMap, now_ms: i64) -> Context {
    let mut c = Context::default();
    if let Some(ip) = asking.source_ip {
        c.set("aws:SourceIp", ip.to_string());
    }
    c.set("aws:SecureTransport", if asking.secure_transport { "true" } else { "false" });
    c.set("aws:CurrentTime", crate::clock::utc_text(now_ms));
    c.set("aws:EpochTime", (now_ms / 1000).to_string());
    match asking.user {
        Some(name) => {
            c.set("aws:username", name);
            c.set("aws:userid", name);
            c.set("aws:PrincipalType", if asking.is_admin { "Account" } else { "User" });
        }
        None => c.set("aws:PrincipalType", "Anonymous"),
    }
    if asking.post_form {
        c.set("s3:authType", "POST");
        c.set("s3:signatureversion", "AWS4-HMAC-SHA256");
    } else if let Some((auth_type, version)) = super::request_rules::signature_kind(uri, headers) {
        c.set("s3:authType", auth_type);
        c.set("s3:signatureversion", version);
    }
    let query = uri.query().unwrap_or("");
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "prefix" => c.set("s3:prefix", value),
            "delimiter" => c.set("s3:delimiter", value),
            "max-keys" => c.set("s3:max-keys", value),
            "versionId" => c.set("s3:VersionId", value),
            _ => {}
        }
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    for (name, key) in [
        ("x-amz-acl", "s3:x-amz-acl"),
        ("x-amz-server-side-encryption", "s3:x-amz-server-side-encryption"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "s3:x-amz-server-side-encryption-aws-kms-key-id"),
        ("x-amz-server-side-encryption-customer-algorithm", "s3:x-amz-server-side-encryption-customer-algorithm"),
        ("x-amz-copy-source", "s3:x-amz-copy-source"),
        ("x-amz-metadata-directive", "s3:x-amz-metadata-directive"),
        ("x-amz-grant-read", "s3:x-amz-grant-read"),
        ("x-amz-grant-write", "s3:x-amz-grant-write"),
        ("x-amz-grant-read-acp", "s3:x-amz-grant-read-acp"),
        ("x-amz-grant-write-acp", "s3:x-amz-grant-write-acp"),
        ("x-amz-grant-full-control", "s3:x-amz-grant-full-control"),
        ("x-amz-storage-class", "s3:x-amz-storage-class"),
        ("x-amz-object-ownership", "s3:x-amz-object-ownership"),
    ] {
        if let Some(v) = header(name) {
            c.set(key, v);
        }
    }
    if let Some(tagging) = header("x-amz-tagging") {
        let mut keys = Vec::new();
        for (k, v) in form_urlencoded::parse(tagging.as_bytes()) {
            c.set(&format!("s3:RequestObjectTag/{k}"), v);
            keys.push(k.into_owned());
        }
        c.set_many("s3:RequestObjectTagKeys", keys);
    }
    c
}

/// Adds `s3:ExistingObjectTag/KEY` for each of the object's tags.
pub fn add_existing_tags(c: &mut Context, tags: &[(String, String)]) {
    for (k, v) in tags {
        c.set(&format!("s3:ExistingObjectTag/{k}"), v.clone());
    }
}
