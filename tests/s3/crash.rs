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
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_granary"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
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
