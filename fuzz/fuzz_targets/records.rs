//! Stored records (`granary::codec`): a value read from the metadata store decoded as the
//! type its key says, in any format it may have been written in (`decode_record` with its
//! upgrades, or `decode` for types still at format 1). The first byte picks the type, the rest
//! is the stored value, its format byte first.
//!
//! Beyond "no panic": a corrupt value is an error, and never an allocation of a length it
//! claims (`granary_fuzz`'s allocator stops the run at one above 64 MiB); a value that decodes
//! is written back (at the current format) as bytes that decode to the same value.

#![no_main]

use granary::codec::{decode, decode_record, encode, encode_record, Record};
use granary::meta;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;

/// A type with format history.
fn record<T: Record + PartialEq + Debug>(bytes: &[u8]) {
    if let Ok(value) = decode_record::<T>(bytes) {
        assert_eq!(decode_record::<T>(&encode_record(&value)), Ok(value));
    }
}

/// A type at format 1.
fn plain<T: Serialize + DeserializeOwned + PartialEq + Debug>(bytes: &[u8]) {
    if let Ok(value) = decode::<T>(bytes) {
        assert_eq!(decode::<T>(&encode(&value)), Ok(value));
    }
}

/// Audit entries: the stored record, then the entry inside it in the layout its format names.
/// Entries are never rewritten (the chain hashes their bytes), so only those at the current
/// format must survive a rewrite.
fn audit_entry(bytes: &[u8]) {
    let Ok(stored) = granary::audit::chain::decode_stored(bytes) else { return };
    let _ = granary::audit::chain::decode_entry(&stored);
    if stored.format == bytes[0] && bytes[0] == <granary::audit::chain::StoredEntry as Record>::FORMAT {
        assert_eq!(granary::audit::chain::decode_stored(&encode_record(&stored)).ok(), Some(stored));
    }
}

/// Every stored type, by the selector byte.
const TYPES: &[fn(&[u8])] = &[
    record::<meta::object_record::ObjectRecord>,
    record::<meta::versions::VersionEntry>,
    record::<meta::buckets::BucketRecord>,
    record::<meta::users::UserRecord>,
    record::<meta::users::AccessKeyRecord>,
    record::<meta::lifecycle::LifecycleConfig>,
    record::<meta::lock::BucketLock>,
    audit_entry,
    record::<meta::uploads::UploadRecord>,
    plain::<meta::uploads::PartRecord>,
    plain::<meta::uploads::CompletedUpload>,
    // Manifests: one page of a chunked body's chunks, and of a multipart object's parts.
    record::<meta::manifest::ManifestPage>,
    plain::<Vec<meta::manifest::PartRef>>,
    plain::<meta::notifications::NotificationRules>,
    plain::<meta::tagging::Tags>,
    plain::<granary::cors::CorsConfig>,
    plain::<meta::bucket_access::BucketAccessConfig>,
    plain::<meta::bucket_encryption::BucketEncryption>,
    plain::<meta::event::Event>,
    plain::<meta::refs::RefCount>,
    plain::<meta::refs::Pin>,
    plain::<meta::gateways::GatewayRecord>,
    plain::<granary::sse::ObjectEncryption>,
    plain::<granary::kms::WrappedKey>,
    plain::<meta::versions::Versioning>,
    plain::<granary::acl::Acl>,
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, value)) = data.split_first() else { return };
    TYPES[usize::from(which) % TYPES.len()](value);
});
