//! clamd over its Unix socket: a stream of bytes scanned with INSTREAM (`clamav-client`
//! speaks the protocol: `zINSTREAM`, 4-byte big-endian chunk lengths, a zero-length end),
//! bounded in time, and its reply (`stream: OK`, `stream: NAME FOUND`, `... ERROR`) read.

use bytes::Bytes;
use futures::Stream;
use std::path::PathBuf;
use std::time::Duration;

/// What clamd found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The signature's name.
    Infected(String),
}

/// Why a scan has no verdict.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScanError {
    /// clamd could not be reached or failed midway (may pass: retried).
    #[error("clamd: {0}")]
    Unavailable(String),
    #[error("clamd did not answer within {0} s")]
    Timeout(u64),
    /// clamd answered with an error (e.g. its stream size limit).
    #[error("clamd refused the scan: {0}")]
    Refused(String),
    /// The object cannot be scanned here (an SSE-C object, one past the size limit).
    #[error("{0}")]
    Unscannable(String),
}

impl ScanError {
    /// Whether trying again later may succeed.
    pub fn passing(&self) -> bool {
        matches!(self, ScanError::Unavailable(_) | ScanError::Timeout(_))
    }
}

/// A clamd reachable at a Unix socket.
#[derive(Debug, Clone)]
pub struct Clamd {
    pub socket: PathBuf,
}

impl Clamd {
    /// Scans `body` (its bytes in order), within `SCAN_TIMEOUT_SECS`.
    pub async fn scan(&self, body: impl Stream<Item = Result<Bytes, std::io::Error>>) -> Result<Verdict, ScanError> {
        let secs = crate::limits::SCAN_TIMEOUT_SECS;
        let connection = clamav_client::tokio::Socket { socket_path: self.socket.as_path() };
        let scan = clamav_client::tokio::scan_stream(body, connection, Some(crate::limits::SCAN_CHUNK_BYTES));
        match tokio::time::timeout(Duration::from_secs(secs), scan).await {
            Err(_) => Err(ScanError::Timeout(secs)),
            Ok(Err(e)) => Err(ScanError::Unavailable(e.to_string())),
            Ok(Ok(reply)) => parse_reply(&reply),
        }
    }
}

/// clamd's answer to one INSTREAM: `stream: OK`, `stream: <signature> FOUND`, or a line
/// ending in `ERROR` (NUL-terminated after a `z` command).
fn parse_reply(reply: &[u8]) -> Result<Verdict, ScanError> {
    let text = String::from_utf8_lossy(reply);
    let text = text.trim_end_matches(['\0', '\n', ' ']);
    let body = text.strip_prefix("stream: ").unwrap_or(text);
    if body == "OK" {
        Ok(Verdict::Clean)
    } else if let Some(name) = body.strip_suffix(" FOUND") {
        Ok(Verdict::Infected(name.to_owned()))
    } else if text.is_empty() {
        Err(ScanError::Unavailable("clamd closed the connection without a verdict".into()))
    } else {
        Err(ScanError::Refused(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read() {
        assert_eq!(parse_reply(b"stream: OK\0").unwrap(), Verdict::Clean);
        assert_eq!(parse_reply(b"stream: Eicar-Test-Signature FOUND\0").unwrap(), Verdict::Infected("Eicar-Test-Signature".into()));
        assert!(matches!(parse_reply(b"INSTREAM size limit exceeded. ERROR\0"), Err(ScanError::Refused(_))));
        assert!(matches!(parse_reply(b""), Err(ScanError::Unavailable(_))));
    }

    #[tokio::test]
    async fn an_absent_clamd_is_unavailable() {
        let clamd = Clamd { socket: "/nonexistent/clamd.sock".into() };
        let err = clamd.scan(futures::stream::empty()).await.unwrap_err();
        assert!(err.passing(), "{err}");
    }
}
