//! What is known about one request beyond its S3 input, shared between the HTTP edge (which
//! creates it and audits the request after the response) and the S3 layer (which learns the
//! operation and the authenticated principal at the access decision, `s3::access`).
//!
//! It lives here, below the edge, so the S3 layer never imports the edge.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Per-request facts; in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub source_ip: IpAddr,
    pub user_agent: Option<String>,
    /// Filled in by the access decision, read by the edge once the response is ready.
    pub facts: Arc<RequestFacts>,
}

/// A principal whose signature s3s verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub user: String,
    pub access_key: String,
}

/// The bucket a request acts on, as the access decision found it and allowed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedBucket {
    pub name: String,
    pub record: crate::meta::buckets::BucketRecord,
}

/// What the access decision learned: the operation s3s resolved (absent when the request
/// failed before routing, e.g. a bad signature) and the authenticated principal (absent for
/// anonymous requests and failed signatures; a key named by such a request is only claimed).
#[derive(Debug, Default)]
pub struct RequestFacts {
    inner: Mutex<Facts>,
}

#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub op: Option<String>,
    pub principal: Option<Authenticated>,
    /// Why the access decision allowed or refused the request (`s3::authorize`): the
    /// statement, grant or ownership that decided, for the audit entry.
    pub access: Option<String>,
}

impl RequestFacts {
    pub fn set_op(&self, op: &str) {
        self.lock().op = Some(op.to_owned());
    }

    pub fn set_principal(&self, principal: Authenticated) {
        self.lock().principal = Some(principal);
    }

    pub fn set_access(&self, reason: String) {
        self.lock().access = Some(reason);
    }

    pub fn get(&self) -> Facts {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Facts> {
        // A panic while holding this lock cannot leave the facts half-written (each setter
        // assigns one field), so a poisoned lock is still good to read.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
