//! The collector and purge against other gateways' write-back queues: a chunk that another
//! gateway's queue still holds (recorded in the metadata store, `meta::write_back_queue`) is
//! not deleted from the durable store, since that queue's upload would put it back with no
//! reference count; once the queue cleared it (or an operator forgot the queue), it goes.

use crate::common::*;
use granary::admin::{AdminRequest, AdminResponse};
use granary::meta::write_back_queue::{self, QueuedChunk};
use std::time::Duration;

const OTHER_QUEUE: u64 = 0x00f0_0d00_0000_0001;

/// Records every chunk the store references as held by another gateway's queue.
fn hold_everything(gw: &Gateway) -> usize {
    let db = &gw.server.collector.engine().db;
    let referenced = granary::meta::refs::referenced(&**db).unwrap();
    for hash in &referenced {
        write_back_queue::record(&**db, OTHER_QUEUE, hash, QueuedChunk { size_bytes: 1, queued_ms: now_ms() }).unwrap();
    }
    referenced.len()
}

#[tokio::test]
async fn chunks_another_queue_holds_wait_for_it() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("wbq").send().await.unwrap();
    let body = random_bytes(3 << 20, 71);
    s3.put_object().bucket("wbq").key("k").body(body.into()).send().await.unwrap();
    let held = hold_everything(&gw);
    assert!(held > 1, "a 3 MiB object has several chunks");
    let stored = gw.chunk_bytes().await;
    s3.delete_object().bucket("wbq").key("k").send().await.unwrap();

    // Past the grace period twice (release, then collection): every chunk is deferred.
    let first = gw.collect_after(Duration::from_secs(48 * 3600)).await;
    let report = gw.collect_after(Duration::from_secs(96 * 3600)).await;
    assert_eq!(report.chunks_deleted, 0, "{report:?}");
    assert_eq!(report.chunks_deferred, held as u64, "{report:?}");
    assert_eq!(report.chunk_delete_failures, 0, "deferral is not failure: {report:?}");
    assert_eq!(gw.chunk_bytes().await, stored, "nothing left the durable store");
    assert_eq!(gw.server.collector.status().chunks_deferred, first.chunks_deferred + report.chunks_deferred, "status adds up the passes");
    let status = match granary::admin::send(gw.dir.path(), &AdminRequest::Status).await.unwrap().unwrap() {
        AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    };
    let queues = status["write_back_queues"].as_array().unwrap();
    let other = queues.iter().find(|q| q["id"] == write_back_queue::queue_hex(OTHER_QUEUE)).expect("status lists the other queue");
    assert_eq!(other["pending_chunks"], held, "{status}");
    assert_eq!(other["owner_live"], false, "no gateway owns it: {status}");

    // `granary write-back forget` refuses while the queue's gateway is live...
    let db = &gw.server.collector.engine().db;
    let owner =
        write_back_queue::QueueOwner { gateway: u64::from(gw.server.gateway), host: "here".into(), dir: "/wb".into(), opened_ms: now_ms() };
    write_back_queue::set_owner(&**db, OTHER_QUEUE, &owner).unwrap();
    let forget = AdminRequest::WriteBackForget { queue: write_back_queue::queue_hex(OTHER_QUEUE) };
    match granary::admin::send(gw.dir.path(), &forget).await.unwrap().unwrap() {
        AdminResponse::Error { message } => assert!(message.contains("live"), "{message}"),
        other => panic!("forgetting a live gateway's queue: {other:?}"),
    }
    // ...and once it is gone (its record, here), drops the records: the next collection
    // (a grace period later) deletes the chunks.
    write_back_queue::set_owner(&**db, OTHER_QUEUE, &write_back_queue::QueueOwner { gateway: 1, ..owner }).unwrap();
    match granary::admin::send(gw.dir.path(), &forget).await.unwrap().unwrap() {
        AdminResponse::Json { value } => assert_eq!(value["records_dropped"], held, "{value}"),
        other => panic!("{other:?}"),
    }
    let listed = write_back_queue::queues(&**db).unwrap();
    assert!(listed.iter().all(|q| q.id != write_back_queue::queue_hex(OTHER_QUEUE)), "the queue is gone from status: {listed:?}");
    let report = gw.collect_after(Duration::from_secs(200 * 3600)).await;
    assert_eq!(report.chunks_deleted, held as u64, "{report:?}");
    assert_eq!(gw.chunk_bytes().await, 0);
}

#[tokio::test]
async fn a_purge_leaves_chunks_another_queue_holds_to_the_collector() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("wbp").send().await.unwrap();
    s3.put_object().bucket("wbp").key("k").body(random_bytes(3 << 20, 72).into()).send().await.unwrap();
    let held = hold_everything(&gw);
    let scope = granary::engine::purge::PurgeScope { user: None, bucket: Some("wbp".into()), prefix: String::new() };
    let report = match granary::admin::send(gw.dir.path(), &AdminRequest::Purge { scope }).await.unwrap().unwrap() {
        AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(report["objects_removed"], 1, "{report}");
    assert_eq!(report["chunks_deleted"], 0, "{report}");
    assert_eq!(report["chunks_awaiting_upload"], held, "{report}");
    assert!(gw.chunk_bytes().await > 0, "the held chunks stay");

    let db = &gw.server.collector.engine().db;
    write_back_queue::forget(&**db, OTHER_QUEUE, None).unwrap();
    let report = gw.collect_after(Duration::from_secs(48 * 3600)).await;
    assert_eq!(report.chunks_deleted, held as u64, "the collector finishes the purge: {report:?}");
    assert_eq!(gw.chunk_bytes().await, 0);
}
