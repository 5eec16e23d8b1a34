//! Right-to-deletion: `granary purge` removes a user's data and every chunk only it used,
//! and afterwards no byte of the purged content remains anywhere in the data directory,
//! while another user's object that shared some of its chunks still reads back whole.

use crate::common::*;
use granary::admin::{AdminRequest, AdminResponse};

/// The files under `dir` that contain `needle`.
fn containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    files_under(dir).into_iter().filter(|f| std::fs::read(f).is_ok_and(|data| data.windows(needle.len()).any(|w| w == needle))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purge_leaves_no_byte_of_the_content_and_keeps_shared_chunks() {
    if skipped_on_remote_chunks("purge_leaves_no_byte_of_the_content_and_keeps_shared_chunks") {
        return;
    }
    let gw = Gateway::start().await;
    let alice = gw.user_client("alice").await;
    let bob = gw.user_client("bob").await;
    let big = random_bytes(4 << 20, 11); // chunked
    let small = random_bytes(20_000, 12); // inline in the metadata record
    let draft = random_bytes(1 << 20, 13); // a part of an upload in progress
    alice.create_bucket().bucket("alice-data").send().await.unwrap();
    alice.put_object().bucket("alice-data").key("secret").tagging("kind=private").body(big.clone().into()).send().await.unwrap();
    alice.put_object().bucket("alice-data").key("note").body(small.clone().into()).send().await.unwrap();
    let up = alice.create_multipart_upload().bucket("alice-data").key("draft").send().await.unwrap();
    alice
        .upload_part()
        .bucket("alice-data")
        .key("draft")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(draft.clone().into())
        .send()
        .await
        .unwrap();
    // Bob's object starts with the same 2 MiB: content-defined chunks make them shared.
    let shared = big[..2 << 20].to_vec();
    bob.create_bucket().bucket("bob-data").send().await.unwrap();
    bob.put_object().bucket("bob-data").key("shared").body(shared.clone().into()).send().await.unwrap();
    let needles = [&big[(3 << 20)..(3 << 20) + 64], &small[10_000..10_064], &draft[500_000..500_064]];
    for n in needles {
        assert!(
            !containing(gw.dir.path(), n).is_empty()
                || !containing(&gw.chunk_dir, n).is_empty()
                || fdb_metadata_contains(gw.dir.path(), n) == Some(true),
            "the content is stored before the purge"
        );
    }

    let scope = granary::engine::purge::PurgeScope { user: Some("alice".into()), bucket: None, prefix: String::new() };
    let report = match granary::admin::send(gw.dir.path(), &AdminRequest::Purge { scope }).await.unwrap().unwrap() {
        AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(report["objects_removed"], 2, "{report}");
    assert_eq!(report["uploads_aborted"], 1, "{report}");
    assert_eq!(report["buckets_removed"], 1, "{report}");
    assert!(report["chunks_deleted"].as_u64() > Some(0), "{report}");
    assert!(report["chunks_still_shared"].as_u64() > Some(0), "bob's chunks stay: {report}");
    assert!(report["refused"].as_array().unwrap().is_empty());

    let endpoint = gw.endpoint.clone();
    let chunk_dir = gw.chunk_dir.clone();
    let dir = gw.stop().await;
    for (i, n) in needles.iter().enumerate() {
        let found = [containing(dir.path(), n), containing(&chunk_dir, n)].concat();
        assert!(found.is_empty(), "needle {i} of the purged content survives in {found:?}");
        assert_ne!(fdb_metadata_contains(dir.path(), n), Some(true), "needle {i} of the purged content survives in FoundationDB");
    }
    drop(endpoint);

    let gw = Gateway::start_with(|c| c.store.data_dir = dir.path().to_path_buf()).await;
    let bob = client_for(&gw.endpoint, "AKBOB", "bob-secret-key");
    assert!(body_of(bob.get_object().bucket("bob-data").key("shared").send().await.unwrap()).await == shared, "bob's object is whole");
    let admin = gw.client();
    let gone = admin.head_bucket().bucket("alice-data").send().await.unwrap_err();
    assert_eq!(status(&gone), 404);
    // The purge is on the record (scope and counts, not content).
    let mut purge_entries = Vec::new();
    granary::admin::export_via_socket(dir.path(), &Default::default(), |l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if v["op"] == "Purge" || v["entry"]["op"] == "Purge" {
            purge_entries.push(v);
        }
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(purge_entries.len(), 1, "one audit entry for the purge");
    let _keep = dir;
}
