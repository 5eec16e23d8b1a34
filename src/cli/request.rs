//! Requests to the admin socket (`crate::admin`): answered by the running gateway that serves
//! the data directory, or directly on its stores when none does; and how answers print.

use crate::admin::{self, AdminRequest, AdminResponse};
use crate::config::StoreConfig;

/// An admin request's answer, through a running gateway's socket, or directly on the data
/// directory when no gateway serves it.
pub(super) async fn admin_response(store: &StoreConfig, req: AdminRequest) -> Result<AdminResponse, String> {
    match admin::send(&store.data_dir, &req).await.map_err(|e| format!("admin socket: {e}"))? {
        Some(r) => Ok(r),
        None => {
            let stores = crate::server::open_stores(store)?;
            let kms = crate::server::open_keyring(store)?;
            tokio::task::spawn_blocking(move || admin::execute(&stores.db, &*kms, req)).await.map_err(|e| e.to_string())
        }
    }
}

/// The JSON an answer carries (queries, job reports); an error answer as `Err`.
pub(super) fn json_of(response: AdminResponse) -> Result<serde_json::Value, String> {
    match response {
        AdminResponse::Json { value } => Ok(value),
        AdminResponse::Error { message } => Err(message),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

/// Runs an admin request through a running gateway's socket, or directly on the data
/// directory when no gateway serves it.
pub(super) async fn admin_command(store: &StoreConfig, req: AdminRequest) -> Result<(), String> {
    let response = admin_response(store, req).await?;
    match response {
        AdminResponse::Key { user, access_key, secret_key } => {
            println!("user:       {user}");
            println!("access key: {access_key}");
            println!("secret key: {secret_key}");
            Ok(())
        }
        AdminResponse::Users { users } => {
            println!("{:<24} {:<24} {:<28} {:<9} {:<7} access keys", "name", "display name", "email", "state", "policy");
            for u in users {
                let keys: Vec<String> = u
                    .access_keys
                    .iter()
                    .map(|k| if k.disabled { format!("{} (disabled)", k.access_key) } else { k.access_key.clone() })
                    .collect();
                let policy = if u.has_policy { "yes" } else { "-" };
                println!(
                    "{:<24} {:<24} {:<28} {:<9} {:<7} {}",
                    u.name,
                    u.display_name,
                    u.email.unwrap_or_default(),
                    state(u.disabled),
                    policy,
                    keys.join(",")
                );
            }
            Ok(())
        }
        AdminResponse::Keys { keys } => {
            println!("{:<24} {:<24} {:<9} created", "access key", "user", "state");
            for k in keys {
                println!("{:<24} {:<24} {:<9} {}", k.access_key, k.user, state(k.disabled), crate::clock::utc_text(k.created_ms));
            }
            Ok(())
        }
        // The document exactly as stored (a newline added only if it has none at its end).
        AdminResponse::Policy { document, .. } => {
            print!("{document}");
            if !document.ends_with('\n') {
                println!();
            }
            Ok(())
        }
        AdminResponse::Done => {
            println!("ok");
            Ok(())
        }
        AdminResponse::Json { value } => {
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
            Ok(())
        }
        AdminResponse::Error { message } => Err(message),
    }
}

fn state(disabled: bool) -> &'static str {
    if disabled {
        "disabled"
    } else {
        "enabled"
    }
}
