//! The access decision: s3s calls `check` once for every S3 request, after it verified the
//! signature (if any) and resolved the operation, before the handler runs. Here the
//! request's shape is checked (`request_rules`), the operation and the authenticated
//! principal are recorded for the audit trail (`request::RequestFacts`), and anonymous
//! requests are refused.
//!
//! Ownership of buckets is still checked by the handlers and, against races, inside the
//! metadata transactions; this is where a fuller access model (policies, ACLs) plugs in.

use super::request::{Authenticated, RequestContext};
use s3s::access::{S3Access, S3AccessContext};
use s3s::{s3_error, S3Result};

pub struct GranaryAccess {
    engine: crate::engine::Engine,
}

impl GranaryAccess {
    pub fn new(engine: crate::engine::Engine) -> Self {
        Self { engine }
    }
}

#[async_trait::async_trait]
impl S3Access for GranaryAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let facts = cx.extensions_mut().get::<RequestContext>().map(|c| std::sync::Arc::clone(&c.facts));
        if let Some(f) = &facts {
            f.set_op(cx.s3_op().name());
        }
        let access_key = cx.credentials().map(|c| c.access_key.clone());
        // The principal first: a request that then breaks a rule is still recorded as the
        // authenticated user's (its signature was verified).
        if let Some(ak) = &access_key {
            let generation = self.engine.config_generation().await.map_err(super::errors::to_s3)?;
            let user = match &*super::cached_credentials(&self.engine, generation, ak).await? {
                Some((_, u)) => u.name.clone(),
                None => return Err(s3_error!(InvalidAccessKeyId)),
            };
            if let Some(f) = &facts {
                f.set_principal(Authenticated { user, access_key: ak.clone() });
            }
        }
        super::request_rules::check(cx.s3_op().name(), cx.uri(), cx.headers())?;
        match access_key {
            Some(_) => Ok(()),
            None => Err(s3_error!(AccessDenied, "Signature is required")),
        }
    }
}
