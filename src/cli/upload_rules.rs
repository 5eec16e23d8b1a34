//! `granary upload-rules set|get|clear` (a bucket's file-type rules) and `granary scan-rules
//! set|get|clear` (its malware scan): each becomes one admin request, through the running
//! gateway or directly on a stopped data directory.

use super::request::admin_command;
use super::values::parse_bytes;
use crate::admin::AdminRequest;
use crate::config::StoreConfig;
use crate::meta::upload_rules::{ScanMode, ScanRules, TypeRules};

#[derive(clap::Subcommand)]
pub(super) enum UploadRulesCommand {
    /// Replace a bucket's file-type rules (lists not given are empty). Uploads (PUT, POST,
    /// copy, multipart) whose key's extension, declared Content-Type or type sniffed from the
    /// first bytes the rules refuse are answered 403 AccessDenied, naming the rule.
    Set {
        #[arg(long)]
        bucket: String,
        /// Only these extensions (comma-separated, case-insensitive, e.g. `pdf,png`).
        #[arg(long, value_delimiter = ',', value_name = "EXT,...")]
        allow_extensions: Vec<String>,
        /// Never these extensions (e.g. `exe,dll`).
        #[arg(long, value_delimiter = ',', value_name = "EXT,...")]
        deny_extensions: Vec<String>,
        /// Only these content types, declared and sniffed (`image/*,application/pdf`).
        #[arg(long, value_delimiter = ',', value_name = "TYPE,...")]
        allow_types: Vec<String>,
        /// Never these content types, declared or sniffed.
        #[arg(long, value_delimiter = ',', value_name = "TYPE,...")]
        deny_types: Vec<String>,
    },
    /// Show a bucket's upload rules (file types and scan).
    Get {
        #[arg(long)]
        bucket: String,
    },
    /// Remove a bucket's file-type rules.
    Clear {
        #[arg(long)]
        bucket: String,
    },
}

#[derive(clap::Subcommand)]
pub(super) enum ScanRulesCommand {
    /// Scan a bucket's new objects with clamd (gateways started with --clamd-socket): `tag`
    /// tags them granary-scan=clean|infected|error after the write; `quarantine` also moves
    /// infected ones to --quarantine-bucket; `refuse` scans objects up to --max-bytes before
    /// the write is acknowledged and refuses infected ones (403), tagging larger ones after.
    Set {
        #[arg(long)]
        bucket: String,
        #[arg(long, value_parser = str::parse::<ScanMode>, value_name = "tag|quarantine|refuse")]
        mode: ScanMode,
        /// Where `quarantine` moves infected objects (as `<bucket>/<key>`): an existing bucket.
        #[arg(long)]
        quarantine_bucket: Option<String>,
        /// `refuse`: the largest object scanned before the write is acknowledged (K, M, G,
        /// Ki, Mi, Gi suffixes) [default: 10Mi].
        #[arg(long, value_parser = parse_bytes, value_name = "N")]
        max_bytes: Option<u64>,
    },
    /// Show a bucket's upload rules (file types and scan).
    Get {
        #[arg(long)]
        bucket: String,
    },
    /// Stop scanning a bucket's new objects.
    Clear {
        #[arg(long)]
        bucket: String,
    },
}

pub(super) async fn upload_rules_command(store: &StoreConfig, command: UploadRulesCommand) -> Result<(), String> {
    let req = match command {
        UploadRulesCommand::Set { bucket, allow_extensions, deny_extensions, allow_types, deny_types } => {
            let rules = TypeRules { allow_extensions, deny_extensions, allow_types, deny_types };
            if rules.is_empty() {
                return Err(
                    "give at least one of --allow-extensions, --deny-extensions, --allow-types, --deny-types (`clear` removes the rules)"
                        .into(),
                );
            }
            AdminRequest::UploadRulesSet { bucket, rules }
        }
        UploadRulesCommand::Get { bucket } => AdminRequest::UploadRulesGet { bucket },
        UploadRulesCommand::Clear { bucket } => AdminRequest::UploadRulesSet { bucket, rules: TypeRules::default() },
    };
    admin_command(store, req).await
}

pub(super) async fn scan_rules_command(store: &StoreConfig, command: ScanRulesCommand) -> Result<(), String> {
    let req = match command {
        ScanRulesCommand::Set { bucket, mode, quarantine_bucket, max_bytes } => {
            if max_bytes.is_some() && mode != ScanMode::Refuse {
                return Err("--max-bytes is for refuse mode".into());
            }
            let max_bytes = match mode {
                ScanMode::Refuse => max_bytes.unwrap_or(crate::limits::SCAN_SYNC_DEFAULT_MAX_BYTES),
                ScanMode::Tag | ScanMode::Quarantine => 0,
            };
            AdminRequest::ScanRulesSet { bucket, rules: Some(ScanRules { mode, quarantine_bucket, max_bytes }) }
        }
        ScanRulesCommand::Get { bucket } => AdminRequest::UploadRulesGet { bucket },
        ScanRulesCommand::Clear { bucket } => AdminRequest::ScanRulesSet { bucket, rules: None },
    };
    admin_command(store, req).await
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_take_units() {
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("10MiB"), Ok(10 << 20));
        assert_eq!(parse_bytes("5k"), Ok(5000));
        assert!(parse_bytes("5X").is_err());
        assert!(parse_bytes("-1").is_err());
    }
}
