//! `granary user ...` and `granary key ...`: each command becomes one admin request
//! (`request::admin_command`: through the running gateway, else directly on the data
//! directory). A policy document is read here, from its file or standard input.

use super::args::{KeyCommand, UserCommand, UserPolicyCommand};
use super::request::admin_command;
use crate::admin::AdminRequest;
use crate::config::StoreConfig;
use crate::limits::POLICY_DOCUMENT_MAX_BYTES;
use std::io::Read;
use std::path::Path;

pub(super) async fn user_command(store: &StoreConfig, command: UserCommand) -> Result<(), String> {
    let req = match command {
        UserCommand::Create { name, display_name, email, access_key, secret_key } => {
            AdminRequest::UserCreate { name, display_name, email, access_key, secret_key }
        }
        UserCommand::List => AdminRequest::UserList,
        UserCommand::Disable { name } => AdminRequest::UserDisable { name },
        UserCommand::Enable { name } => AdminRequest::UserEnable { name },
        UserCommand::Delete { name } => AdminRequest::UserDelete { name },
        UserCommand::Policy { command: UserPolicyCommand::Put { name, file } } => {
            let document = tokio::task::spawn_blocking(move || read_document(&file)).await.map_err(|e| e.to_string())??;
            AdminRequest::UserPolicyPut { name, document }
        }
        UserCommand::Policy { command: UserPolicyCommand::Get { name } } => AdminRequest::UserPolicyGet { name },
        UserCommand::Policy { command: UserPolicyCommand::Delete { name } } => AdminRequest::UserPolicyDelete { name },
    };
    admin_command(store, req).await
}

pub(super) async fn key_command(store: &StoreConfig, command: KeyCommand) -> Result<(), String> {
    let req = match command {
        KeyCommand::Create { user, access_key, secret_key } => AdminRequest::KeyCreate { user, access_key, secret_key },
        KeyCommand::Delete { access_key } => AdminRequest::KeyDelete { access_key },
        KeyCommand::Disable { access_key } => AdminRequest::KeyDisable { access_key },
        KeyCommand::Enable { access_key } => AdminRequest::KeyEnable { access_key },
        KeyCommand::List { user } => AdminRequest::KeyList { user },
    };
    admin_command(store, req).await
}

/// A policy document from `file` (`-`: standard input), read only up to one byte past the
/// longest document a policy may be, so a wrong file is refused without being read whole.
fn read_document(file: &Path) -> Result<String, String> {
    let limit = u64::try_from(POLICY_DOCUMENT_MAX_BYTES).unwrap_or(u64::MAX).saturating_add(1);
    let mut bytes = Vec::new();
    let result = if file.as_os_str() == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    result.map_err(|e| format!("{}: {e}", file.display()))?;
    if bytes.len() > POLICY_DOCUMENT_MAX_BYTES {
        return Err(format!("{}: a policy document is at most {POLICY_DOCUMENT_MAX_BYTES} bytes", file.display()));
    }
    String::from_utf8(bytes).map_err(|_| format!("{}: a policy document is UTF-8 JSON", file.display()))
}
