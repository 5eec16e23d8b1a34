//! kill -9 during concurrent PUTs: every acknowledged PUT survives, and every object the
//! store lists reads back whole (no manifest points at a missing chunk).

use crate::common::*;
use md5::{Digest, Md5};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

async fn spawn_gateway(data_dir: &std::path::Path) -> (tokio::process::Child, String) {
    spawn_gateway_with(data_dir, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_puts_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..2u64 {
        let (mut child, endpoint) = spawn_gateway(dir.path()).await;
        let s3 = client_for(&endpoint, ROOT_AK, ROOT_SK);
        if round == 0 {
            s3.create_bucket().bucket("crash").send().await.unwrap();
        }
        let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..8u64 {
            let (s3, acked) = (s3.clone(), Arc::clone(&acked));
            writers.spawn(async move {
                for i in 0.. {
                    let len = match i % 3 {
                        0 => 1000,
                        1 => 40_000,
                        _ => 1_500_000 + (w as usize) * 1000,
                    };
                    // Writers share content across keys, so dedup paths are exercised too.
                    let data = random_bytes(len, (round * 1000 + i) % 7);
                    let key = format!("r{round}/w{w}/{i}");
                    if s3.put_object().bucket("crash").key(&key).body(data.clone().into()).send().await.is_ok() {
                        acked.lock().unwrap().insert(key, hex::encode(Md5::digest(&data)));
                    } else {
                        return;
                    }
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(1500 + 500 * round)).await;
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
        while writers.join_next().await.is_some() {}
        let acked = acked.lock().unwrap().clone();
        assert!(acked.len() > 5, "the writers made progress before the kill ({} acked)", acked.len());

        let (_child, endpoint) = spawn_gateway(dir.path()).await;
        let s3 = client_for(&endpoint, ROOT_AK, ROOT_SK);
        for (key, md5) in &acked {
            let got = s3.get_object().bucket("crash").key(key).send().await.unwrap_or_else(|e| panic!("acknowledged {key} lost: {e:?}"));
            assert_eq!(&hex::encode(Md5::digest(body_of(got).await)), md5, "{key} reads back byte-identical");
        }
        // Every listed object (acknowledged or not) must read back whole.
        let mut pages = s3.list_objects_v2().bucket("crash").into_paginator().send();
        let mut listed = 0;
        while let Some(page) = pages.next().await {
            for obj in page.unwrap().contents() {
                let got = s3.get_object().bucket("crash").key(obj.key().unwrap()).send().await.unwrap();
                let etag = got.e_tag().unwrap().trim_matches('"').to_owned();
                assert_eq!(hex::encode(Md5::digest(body_of(got).await)), etag);
                listed += 1;
            }
        }
        assert!(listed >= acked.len());
    }
}

/// Bytes of chunks `data_dir`'s gateway stored, wherever this run keeps them.
async fn stored_chunk_bytes(data_dir: &std::path::Path) -> u64 {
    let Some((url, endpoint)) = remote_chunk_url(data_dir) else {
        return granary::chunks::LocalChunks::open(&data_dir.join("chunks")).unwrap().usage_now().unwrap().bytes;
    };
    let settings = granary::chunks::s3::S3Settings::resolve(&url, Some(&endpoint), Some("us-east-1")).unwrap();
    listed_chunk_bytes(&granary::chunks::s3::S3Chunks::new(settings).unwrap()).await
}

pub async fn spawn_gateway_with(data_dir: &std::path::Path, extra: &[&str]) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_granary"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(remote_chunk_flags(data_dir))
        .args(extra)
        .env("GRANARY_ROOT_ACCESS_KEY", ROOT_AK)
        .env("GRANARY_ROOT_SECRET_KEY", ROOT_SK)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("granary listening on ") {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("gateway exited before listening");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

const PART: usize = 5 * 1024 * 1024;

fn part_data(key: &str, n: i32) -> Vec<u8> {
    let seed = key.bytes().fold(u64::from(n as u32), |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    random_bytes(PART, seed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multipart_uploads_survive_kill_9_and_leave_no_orphans() {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let dir = tempfile::tempdir().unwrap();
    let gc = ["--gc-grace-secs", "1", "--gc-interval-secs", "1"];
    let (mut child, endpoint) = spawn_gateway_with(dir.path(), &gc).await;
    let s3 = client_for(&endpoint, ROOT_AK, ROOT_SK);
    s3.create_bucket().bucket("mpcrash").send().await.unwrap();
    let completed: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..6 {
        let (s3, completed) = (s3.clone(), Arc::clone(&completed));
        writers.spawn(async move {
            for i in 0.. {
                let key = format!("w{w}/obj{i}");
                let Ok(created) = s3.create_multipart_upload().bucket("mpcrash").key(&key).send().await else { return };
                let id = created.upload_id().unwrap().to_owned();
                let mut parts = Vec::new();
                for n in 1..=3 {
                    let Ok(out) = s3
                        .upload_part()
                        .bucket("mpcrash")
                        .key(&key)
                        .upload_id(&id)
                        .part_number(n)
                        .body(part_data(&key, n).into())
                        .send()
                        .await
                    else {
                        return;
                    };
                    parts.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
                }
                let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
                if s3.complete_multipart_upload().bucket("mpcrash").key(&key).upload_id(&id).multipart_upload(done).send().await.is_err() {
                    return;
                }
                completed.lock().unwrap().push(key);
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    while writers.join_next().await.is_some() {}
    let completed = completed.lock().unwrap().clone();

    let (_child, endpoint) = spawn_gateway_with(dir.path(), &gc).await;
    let s3 = client_for(&endpoint, ROOT_AK, ROOT_SK);
    let whole = |key: &str, parts: &[i32]| parts.iter().flat_map(|n| part_data(key, *n)).collect::<Vec<u8>>();
    for key in &completed {
        let got = body_of(s3.get_object().bucket("mpcrash").key(key).send().await.unwrap()).await;
        assert!(got == whole(key, &[1, 2, 3]), "completed {key} reads back whole");
    }
    // Interrupted uploads: complete every other one from the parts that made it, abort the rest.
    let pending = s3.list_multipart_uploads().bucket("mpcrash").send().await.unwrap();
    let mut finished_after = Vec::new();
    for (i, u) in pending.uploads().iter().enumerate() {
        let (key, id) = (u.key().unwrap(), u.upload_id().unwrap());
        let parts = s3.list_parts().bucket("mpcrash").key(key).upload_id(id).send().await.unwrap();
        let numbers: Vec<i32> = parts.parts().iter().filter_map(|p| p.part_number()).collect();
        if i % 2 == 0 && !numbers.is_empty() {
            let done: Vec<CompletedPart> = parts
                .parts()
                .iter()
                .map(|p| CompletedPart::builder().part_number(p.part_number().unwrap()).e_tag(p.e_tag().unwrap()).build())
                .collect();
            s3.complete_multipart_upload()
                .bucket("mpcrash")
                .key(key)
                .upload_id(id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
                .send()
                .await
                .unwrap();
            finished_after.push((key.to_owned(), numbers));
        } else {
            s3.abort_multipart_upload().bucket("mpcrash").key(key).upload_id(id).send().await.unwrap();
        }
    }
    for (key, numbers) in &finished_after {
        let got = body_of(s3.get_object().bucket("mpcrash").key(key).send().await.unwrap()).await;
        assert!(got == whole(key, numbers), "{key} completed after the crash reads back");
    }
    // Delete everything: every chunk must be collected, including those of parts that were
    // being written when the process died.
    let mut pages = s3.list_objects_v2().bucket("mpcrash").into_paginator().send();
    while let Some(page) = pages.next().await {
        for obj in page.unwrap().contents() {
            s3.delete_object().bucket("mpcrash").key(obj.key().unwrap()).send().await.unwrap();
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = stored_chunk_bytes(dir.path()).await;
        if left == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{left} bytes of chunks orphaned");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
