//! `granary gc` (dry run, then a pass that reports bytes freed) and `granary refcount verify
//! --repair` (drifted counts and orphan chunk files), through the real binary on the data
//! directory of a stopped gateway.

use crate::common::*;

#[tokio::test]
async fn gc_frees_space_and_refcount_repair_fixes_drift() {
    if skipped_on_remote_chunks("gc_frees_space_and_refcount_repair_fixes_drift") {
        return;
    }
    let gw = Gateway::start().await; // default grace: nothing is collected while it runs
    let s3 = gw.client();
    s3.create_bucket().bucket("gcb").send().await.unwrap();
    let doomed = random_bytes(3 << 20, 1);
    for key in ["a", "b"] {
        s3.put_object().bucket("gcb").key(key).body(doomed.clone().into()).send().await.unwrap();
        s3.delete_object().bucket("gcb").key(key).send().await.unwrap();
    }
    let kept = random_bytes(2 << 20, 2);
    s3.put_object().bucket("gcb").key("kept").body(kept.clone().into()).send().await.unwrap();
    let chunk_dir = gw.chunk_dir.clone();
    let dir = gw.stop().await;
    let path = dir.path();

    let (ok, preview, out) = granary_report(path, &["gc", "--dry-run", "--grace-secs", "0"]);
    assert!(ok, "{out}");
    assert_eq!(preview["manifests_due"], 2, "{out}");
    assert!(preview["references_to_release"].as_u64() > Some(0), "{out}");
    let before = granary::chunks::LocalChunks::open(&chunk_dir).unwrap().usage_now().unwrap().bytes;

    let (ok, report, out) = granary_report(path, &["gc", "--grace-secs", "0"]);
    assert!(ok, "{out}");
    let freed = report["bytes_freed"].as_u64().unwrap();
    assert!(freed >= 3 << 20, "the deleted content's chunks are freed: {out}");
    let after = granary::chunks::LocalChunks::open(&chunk_dir).unwrap().usage_now().unwrap().bytes;
    assert_eq!(before - after, freed, "the report matches the disk");
    assert!(out.contains("freed "), "{out}");

    let (ok, _, out) = granary_report(path, &["refcount", "verify"]);
    assert!(ok, "a clean store verifies: {out}");

    // Drift: one count too high, and an orphan file nobody references.
    {
        let db = shared_metadata(path);
        let chunks = granary::chunks::LocalChunks::open(&chunk_dir).unwrap();
        let hash = chunks.list_after(None, 1).unwrap()[0].hash;
        granary::kv::transact(&*db, |t| {
            granary::meta::refs::apply_ref_deltas(t, &std::collections::BTreeMap::from([(hash, 4)]), granary::meta::now_ms())
        })
        .unwrap();
        let orphan = random_bytes(100_000, 3);
        chunks.write(&granary::chunks::ChunkHash::of(&orphan), &orphan).unwrap();
    }
    let (ok, report, out) = granary_report(path, &["refcount", "verify"]);
    assert!(!ok, "drift fails verification: {out}");
    assert_eq!(report["drift"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(report["drift"][0]["expected"].as_i64().unwrap() + 4, report["drift"][0]["stored"].as_i64().unwrap());
    assert_eq!(report["orphan_files"].as_array().unwrap().len(), 1, "{out}");
    let (ok, _, out) = granary_report(path, &["refcount", "verify", "--repair"]);
    assert!(ok, "{out}");
    let (ok, _, out) = granary_report(path, &["refcount", "verify"]);
    assert!(ok, "repaired: {out}");

    // The live object is untouched by all of this.
    let gw = Gateway::start_with(|c| c.store.data_dir = path.to_path_buf()).await;
    assert!(body_of(gw.client().get_object().bucket("gcb").key("kept").send().await.unwrap()).await == kept);
}
