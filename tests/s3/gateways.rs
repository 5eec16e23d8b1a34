//! Several gateways over one metadata store and one chunk directory (as over FoundationDB
//! and a shared filesystem), and mutations under `commit_unknown_result`.

use crate::common::{body_of, client_for, random_bytes, shared_metadata, Gateway};
use aws_sdk_s3::presigning::PresigningConfig;
use granary::admin::{AdminRequest, AdminResponse};
use granary::chunks::{ChunkBackend, LocalChunks};
use granary::kv::faulty::FaultyStore;
use granary::kv::fjall_backend::FjallStore;
use granary::kv::KvStore;
use granary::server::Stores;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn status(gw: &Gateway) -> serde_json::Value {
    match granary::admin::send(gw.dir.path(), &AdminRequest::Status).await.unwrap().unwrap() {
        AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    }
}

async fn pinned(gw: &Gateway) -> u64 {
    status(gw).await["pinned_chunks"]["count"].as_u64().unwrap()
}

/// Pins held by one gateway's uploads, once they stop changing (its upload stalled).
async fn settled_pins_of(db: &dyn KvStore, gateway: u32) -> usize {
    let mut last = usize::MAX;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = granary::meta::gateways::pins_by_gateway(db, usize::MAX).unwrap().get(&gateway).copied().unwrap_or(0);
        if now > 0 && now == last {
            return now;
        }
        last = now;
    }
    panic!("gateway {gateway:08x} never held a settled number of pins");
}

/// A PUT whose body stops after `sent` of `total` bytes; `finish` sends the rest.
struct StalledPut {
    conn: tokio::net::TcpStream,
    rest: Vec<u8>,
}

impl StalledPut {
    async fn start(gw: &Gateway, bucket: &str, key: &str, data: &[u8], sent: usize) -> Self {
        let presigned = gw
            .client()
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_length(i64::try_from(data.len()).unwrap())
            .presigned(PresigningConfig::expires_in(Duration::from_secs(600)).unwrap())
            .await
            .unwrap();
        let host = gw.endpoint.trim_start_matches("http://").to_owned();
        let uri: http::Uri = presigned.uri().parse().unwrap();
        let mut head = format!("PUT {} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n", uri.path_and_query().unwrap(), data.len());
        for (k, v) in presigned.headers() {
            if !k.eq_ignore_ascii_case("host") && !k.eq_ignore_ascii_case("content-length") {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        head.push_str("Connection: close\r\n\r\n");
        let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(&data[..sent]).await.unwrap();
        Self { conn, rest: data[sent..].to_vec() }
    }

    async fn finish(mut self) -> String {
        self.conn.write_all(&self.rest).await.unwrap();
        let mut reply = Vec::new();
        self.conn.read_to_end(&mut reply).await.unwrap();
        String::from_utf8_lossy(&reply).lines().next().unwrap_or_default().to_owned()
    }
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn gateways_sharing_a_store_see_every_change_at_once_and_clean_up_after_a_dead_one() {
    let dir = tempfile::tempdir().unwrap();
    let db: Arc<dyn KvStore> = shared_metadata(dir.path());
    let chunk_dir = dir.path().join("chunks");
    let chunks: Arc<dyn ChunkBackend> = Arc::new(LocalChunks::open(&chunk_dir).unwrap());
    let stores = || Stores { db: Arc::clone(&db), chunks: Arc::clone(&chunks) };
    let a = Gateway::start_on(stores(), &chunk_dir, |_| {}).await;
    let b = Gateway::start_on(stores(), &chunk_dir, |_| {}).await;
    assert_eq!(status(&b).await["gateways"].as_array().unwrap().len(), 2, "both gateways are registered");

    // Every change through one gateway is visible through the other at once: nothing
    // (buckets, objects, credentials) is served from a stale copy.
    let (sa, sb) = (a.client(), b.client());
    sa.create_bucket().bucket("shared").send().await.unwrap();
    let big = random_bytes(3 << 20, 1);
    sa.put_object().bucket("shared").key("big").body(big.clone().into()).send().await.unwrap();
    assert!(body_of(sb.get_object().bucket("shared").key("big").send().await.unwrap()).await == big);
    sb.put_object().bucket("shared").key("big").body(b"v2".to_vec().into()).send().await.unwrap();
    assert_eq!(body_of(sa.get_object().bucket("shared").key("big").send().await.unwrap()).await, b"v2");
    sb.delete_object().bucket("shared").key("big").send().await.unwrap();
    let gone = sa.get_object().bucket("shared").key("big").send().await.unwrap_err();
    assert_eq!(crate::common::status(&gone), 404);
    let carol = a.user_client("carol").await;
    drop(carol);
    let carol_on_b = client_for(&b.endpoint, "AKCAROL", "carol-secret-key");
    carol_on_b.create_bucket().bucket("carols").send().await.unwrap();

    // Gateway A dies mid-upload, gateway B has an upload in flight too.
    let data = random_bytes(8 << 20, 2);
    let on_a = StalledPut::start(&a, "shared", "from-a", &data, 4 << 20).await;
    let on_b = StalledPut::start(&b, "shared", "from-b", &data, 4 << 20).await;
    let a_id = a.server.gateway;
    settled_pins_of(&*db, a_id).await;
    let pinned_by_b = settled_pins_of(&*db, b.server.gateway).await as u64;
    a.server.abort();
    // A's registration expires (its heartbeat stopped); here it is forgotten at once rather
    // than after GATEWAY_LIVENESS_TIMEOUT_MILLIS.
    granary::meta::gateways::deregister(&*db, a_id).unwrap();
    let released =
        granary::meta::gateways::release_orphaned_pins(&*db, &b.server.collector.engine().liveness, std::time::Instant::now()).unwrap();
    assert_eq!(released, 1, "the dead gateway's upload is released");
    assert_eq!(pinned(&b).await, pinned_by_b, "the live gateway's upload keeps its pins");
    assert!(on_b.finish().await.contains("200"), "the live upload completes");
    assert!(body_of(sb.get_object().bucket("shared").key("from-b").send().await.unwrap()).await == data);
    assert_eq!(pinned(&b).await, 0);
    drop(on_a);
    let gateways = status(&b).await["gateways"].as_array().unwrap().len();
    assert_eq!(gateways, 1, "only B is registered");
}

#[tokio::test]
async fn mutations_apply_once_when_every_commit_reports_an_unknown_result() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = Arc::new(FaultyStore::new(FjallStore::open(&dir.path().join("meta")).unwrap()));
    let chunk_dir = dir.path().join("chunks");
    let stores = Stores { db: Arc::clone(&faulty) as Arc<dyn KvStore>, chunks: Arc::new(LocalChunks::open(&chunk_dir).unwrap()) };
    let gw = Gateway::start_on(stores, &chunk_dir, |c| {
        c.gc_grace = Duration::ZERO;
        c.gc_interval = Duration::from_millis(100);
    })
    .await;
    let s3 = gw.client();
    faulty.set_every_commit_unknown(true);

    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let data = random_bytes(3 << 20, 3);
    s3.put_object().bucket("bkt").key("x").body(data.clone().into()).send().await.unwrap();
    s3.put_object().bucket("bkt").key("y").body(data.clone().into()).send().await.unwrap();
    s3.copy_object().bucket("bkt").key("w").copy_source("bkt/x").send().await.unwrap();
    let up = s3.create_multipart_upload().bucket("bkt").key("z").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let part1 = random_bytes(5 << 20, 4);
    let mut parts = Vec::new();
    for (n, body) in [(1, part1.clone()), (2, data.clone())] {
        let p = s3.upload_part().bucket("bkt").key("z").upload_id(id).part_number(n).body(body.into()).send().await.unwrap();
        parts.push(aws_sdk_s3::types::CompletedPart::builder().part_number(n).e_tag(p.e_tag().unwrap()).build());
    }
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    s3.complete_multipart_upload().bucket("bkt").key("z").upload_id(id).multipart_upload(done).send().await.unwrap();
    s3.delete_object().bucket("bkt").key("x").send().await.unwrap();

    // A double-applied release would have freed chunks that y, w and z still use; give the
    // collector (no grace) several passes to do so.
    gw.collector_passes(5).await;
    for key in ["y", "w"] {
        assert!(body_of(s3.get_object().bucket("bkt").key(key).send().await.unwrap()).await == data, "{key}");
    }
    let z = body_of(s3.get_object().bucket("bkt").key("z").send().await.unwrap()).await;
    assert!(z.len() == part1.len() + data.len() && z[..part1.len()] == part1[..] && z[part1.len()..] == data[..]);

    // The audit trail has one entry per mutation, not one per attempt.
    let mut ops = std::collections::BTreeMap::<String, usize>::new();
    granary::admin::export_via_socket(gw.dir.path(), &Default::default(), |l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let op = v["op"].as_str().or(v["entry"]["op"].as_str()).unwrap_or_default();
        *ops.entry(op.to_owned()).or_default() += 1;
    })
    .await
    .unwrap()
    .unwrap();
    for (op, n) in
        [("CreateBucket", 1), ("PutObject", 2), ("CopyObject", 1), ("UploadPart", 2), ("CompleteMultipartUpload", 1), ("DeleteObject", 1)]
    {
        assert_eq!(ops.get(op).copied().unwrap_or(0), n, "{op} entries in {ops:?}");
    }

    // A double-applied pin would leak: once everything is deleted every chunk must go.
    for key in ["y", "w", "z"] {
        s3.delete_object().bucket("bkt").key(key).send().await.unwrap();
    }
    wait_for("every chunk to be collected", async || gw.chunk_bytes().await == 0).await;
    faulty.set_every_commit_unknown(false);
    assert!(faulty.commit_count() > 20, "faults were injected into many commits");
}
