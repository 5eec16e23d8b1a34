//! `granary quota set|get|clear` and `granary usage [--recount] [--physical]`: each becomes
//! one admin request (through the running gateway, else directly on the data directory);
//! usage prints as a table, each bucket's physical bytes (as last computed) below its line.

use super::request::{admin_command, admin_response, json_of};
use crate::admin::AdminRequest;
use crate::config::StoreConfig;
use crate::meta::quota::{Change, LimitsChange, Scope};

#[derive(clap::Subcommand)]
pub(super) enum QuotaCommand {
    /// Set a bucket's or user's limits; those not given stay as they are.
    ///
    /// A user's quota bounds the buckets it owns, together. Amounts take K, M, G, T (powers of 1000) or
    /// Ki, Mi, Gi, Ti (powers of 1024), and `none` removes a limit. A write that would take
    /// usage past a maximum is refused (403 QuotaExceeded).
    Set {
        #[command(flatten)]
        target: Target,
        /// Logical bytes of every object version (noncurrent ones too).
        #[arg(long, value_parser = parse_change, value_name = "N|none")]
        max_bytes: Option<Change>,
        /// Object versions (delete markers are not counted).
        #[arg(long, value_parser = parse_change, value_name = "N|none")]
        max_objects: Option<Change>,
        /// Users only: requests per second of each of its access keys (replaces
        /// --rate-limit-requests-per-sec for them).
        #[arg(long, value_parser = parse_change, value_name = "N|none")]
        requests_per_sec: Option<Change>,
        /// Users only: declared upload bytes per second of each of its access keys.
        #[arg(long, value_parser = parse_change, value_name = "N|none")]
        upload_bytes_per_sec: Option<Change>,
    },
    /// Show a bucket's or user's limits and usage (a user's with each of its buckets).
    Get {
        #[command(flatten)]
        target: Target,
    },
    /// Remove every limit of a bucket or user.
    Clear {
        #[command(flatten)]
        target: Target,
    },
}

/// A bucket or a user.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub(super) struct Target {
    #[arg(long)]
    bucket: Option<String>,
    #[arg(long)]
    user: Option<String>,
}

impl Target {
    fn scope(self) -> Scope {
        match (self.bucket, self.user) {
            (Some(b), _) => Scope::Bucket(b),
            (None, Some(u)) => Scope::User(u),
            // clap's group requires one of them.
            (None, None) => Scope::User(String::new()),
        }
    }
}

/// `granary usage`'s flags.
#[derive(clap::Args)]
pub(super) struct UsageArgs {
    /// One bucket.
    #[arg(long, conflicts_with = "user")]
    bucket: Option<String>,
    /// One user (the buckets it owns), with each of its buckets.
    #[arg(long)]
    user: Option<String>,
    /// Rebuild every usage counter from the object records first: for data written before
    /// usage was counted, or to repair drift. Exact on a stopped store; through a running
    /// gateway, run it while writes are quiet.
    #[arg(long, conflicts_with_all = ["bucket", "user"])]
    recount: bool,
    /// Compute every bucket's (or the --bucket's) physical bytes first: the stored bytes of
    /// the distinct chunks it references, those no other bucket references (exclusive), and
    /// its dedup ratio. A scan of the bucket's manifests; exact on a quiet store,
    /// approximate while writes run. The figures are kept and shown with their time.
    #[arg(long, conflicts_with = "user")]
    physical: bool,
}

/// An amount: a number with an optional decimal or binary suffix (and `B`), or `none`.
fn parse_change(text: &str) -> Result<Change, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("unlimited") {
        return Ok(Change::Remove);
    }
    super::values::parse_bytes(t).map(Change::Set).map_err(|e| format!("{e}, or `none`"))
}

pub(super) async fn quota_command(store: &StoreConfig, command: QuotaCommand) -> Result<(), String> {
    match command {
        QuotaCommand::Set { target, max_bytes, max_objects, requests_per_sec, upload_bytes_per_sec } => {
            let change = LimitsChange {
                max_bytes: max_bytes.unwrap_or_default(),
                max_objects: max_objects.unwrap_or_default(),
                requests_per_sec: requests_per_sec.unwrap_or_default(),
                upload_bytes_per_sec: upload_bytes_per_sec.unwrap_or_default(),
            };
            if change == LimitsChange::default() {
                return Err("give at least one of --max-bytes, --max-objects, --requests-per-sec, --upload-bytes-per-sec".into());
            }
            admin_command(store, AdminRequest::QuotaSet { scope: target.scope(), change }).await
        }
        QuotaCommand::Get { target } => print_usage(store, Some(target.scope())).await,
        QuotaCommand::Clear { target } => admin_command(store, AdminRequest::QuotaClear { scope: target.scope() }).await,
    }
}

pub(super) async fn usage_command(store: &StoreConfig, args: UsageArgs) -> Result<(), String> {
    if args.recount {
        let report = json_of(admin_response(store, AdminRequest::UsageRecount).await?)?;
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    }
    if args.physical {
        let report = physical_scan(store, args.bucket.clone()).await?;
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    }
    let scope = match (args.bucket, args.user) {
        (Some(b), _) => Some(Scope::Bucket(b)),
        (None, Some(u)) => Some(Scope::User(u)),
        (None, None) => None,
    };
    print_usage(store, scope).await
}

/// `granary usage --physical`'s scan: through the running gateway, else here on the stores,
/// spilling under the data directory.
async fn physical_scan(store: &StoreConfig, bucket: Option<String>) -> Result<serde_json::Value, String> {
    let request = AdminRequest::UsagePhysical { bucket: bucket.clone() };
    match crate::admin::send(&store.data_dir, &request).await.map_err(|e| format!("admin socket: {e}"))? {
        Some(response) => json_of(response),
        None => {
            let stores = crate::server::open_stores(store)?;
            let spill_root = store.data_dir.clone();
            let report = tokio::task::spawn_blocking(move || {
                crate::meta::physical_scan::scan(&*stores.db, bucket.as_deref(), &spill_root, |_| {}).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())??;
            serde_json::to_value(report).map_err(|e| e.to_string())
        }
    }
}

/// A bucket's physical usage as a line below its row, or nothing before the first scan.
fn physical_line(physical: &serde_json::Value) -> Option<String> {
    let number = |name: &str| physical[name].as_u64().unwrap_or(0);
    let ratio = physical["dedup_ratio"].as_f64().map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
    let unknown = match number("unsized_chunks") {
        0 => String::new(),
        n => format!(" ({n} of unknown size)"),
    };
    physical.is_object().then(|| {
        format!(
            "       physical {} bytes, exclusive {} bytes, {} distinct chunks{unknown}, dedup ratio {ratio} (computed {})",
            number("physical_bytes"),
            number("exclusive_bytes"),
            number("distinct_chunks"),
            physical["computed_at"].as_str().unwrap_or("?")
        )
    })
}

/// Prints a usage report as a table: users, then buckets (with their physical usage when
/// computed), then the total.
async fn print_usage(store: &StoreConfig, scope: Option<Scope>) -> Result<(), String> {
    let report = json_of(admin_response(store, AdminRequest::Usage { scope }).await?)?;
    let number = |v: &serde_json::Value| v.as_i64().map_or_else(|| "-".to_owned(), |n| n.to_string());
    let row = |kind: &str, line: &serde_json::Value| {
        let limits = &line["limits"];
        println!(
            "{:<6} {:<40} {:>12} {:>16} {:>12} {:>16}",
            kind,
            line["name"].as_str().unwrap_or(""),
            number(&line["usage"]["objects"]),
            number(&line["usage"]["bytes"]),
            number(&limits["max_objects"]),
            number(&limits["max_bytes"]),
        );
        if let Some(physical) = physical_line(&line["physical"]) {
            println!("{physical}");
        }
    };
    println!("{:<6} {:<40} {:>12} {:>16} {:>12} {:>16}", "", "name", "objects", "bytes", "max objects", "max bytes");
    for (kind, field) in [("user", "users"), ("bucket", "buckets")] {
        for line in report[field].as_array().into_iter().flatten() {
            row(kind, line);
        }
    }
    if let Some(total) = report.get("total").filter(|t| !t.is_null()) {
        println!("{:<6} {:<40} {:>12} {:>16}", "total", "", number(&total["objects"]), number(&total["bytes"]));
    }
    // A user's request rates, when set.
    for line in report["users"].as_array().into_iter().flatten() {
        let limits = &line["limits"];
        if !limits["requests_per_sec"].is_null() || !limits["upload_bytes_per_sec"].is_null() {
            println!(
                "user {}: {} requests/s, {} upload bytes/s per access key",
                line["name"].as_str().unwrap_or(""),
                number(&limits["requests_per_sec"]),
                number(&limits["upload_bytes_per_sec"])
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_take_units_and_none() {
        assert_eq!(parse_change("1000"), Ok(Change::Set(1000)));
        assert_eq!(parse_change("10GiB"), Ok(Change::Set(10 << 30)));
        assert_eq!(parse_change("5M"), Ok(Change::Set(5_000_000)));
        assert_eq!(parse_change("none"), Ok(Change::Remove));
        assert!(parse_change("5X").is_err());
        assert!(parse_change("-1").is_err());
        assert!(parse_change("99999999999Ti").is_err());
    }
}
