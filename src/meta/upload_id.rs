//! Ids of uploads (and of the manifests and part lists they write): 16 bytes, milliseconds
//! first so ids sort by age, and for an upload the id of the gateway streaming it, so its
//! chunk pins can be traced to that gateway (`refs` pins under the id, `gateways` releases
//! the pins of a dead gateway's uploads). A leaf of meta: both of those import it.

use super::now_ms;

/// A gateway process's id, fresh at every start.
pub type GatewayId = u32;

/// A fresh id (uploads, manifests, part lists): milliseconds then random bytes, so ids sort
/// by age.
pub fn new_upload_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&u64::try_from(now_ms()).unwrap_or(0).to_be_bytes());
    id[8..].copy_from_slice(&rand::random::<[u8; 8]>());
    id
}

/// A fresh id for an upload streamed by `gateway`: milliseconds, the gateway, random bytes.
/// Its pins can then be traced to the gateway (`gateways::release_orphaned_pins`).
pub fn new_upload_id_of(gateway: GatewayId) -> [u8; 16] {
    let mut id = new_upload_id();
    id[8..12].copy_from_slice(&gateway.to_be_bytes());
    id
}

/// The gateway that streams an upload (ids from `new_upload_id_of`).
pub fn gateway_of_upload(upload_id: &[u8; 16]) -> GatewayId {
    u32::from_be_bytes([upload_id[8], upload_id[9], upload_id[10], upload_id[11]])
}

/// Upload ids travel as 32 hex characters.
pub fn format_upload_id(id: &[u8; 16]) -> String {
    hex::encode(id)
}

pub fn parse_upload_id(s: &str) -> Option<[u8; 16]> {
    hex::decode(s).ok()?.try_into().ok()
}
