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
            tokio::task::spawn_blocking(move || admin::execute(&stores.db, req)).await.map_err(|e| e.to_string())
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
            println!("{:<24} {:<24} {:<28} access keys", "name", "display name", "email");
            for u in users {
                println!("{:<24} {:<24} {:<28} {}", u.name, u.display_name, u.email.unwrap_or_default(), u.access_keys.join(","));
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
