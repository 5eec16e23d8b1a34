use crate::common::*;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ObjectAttributes};
use aws_sdk_s3::Client;
use md5::{Digest, Md5};
use std::time::Duration;

const MIB: usize = 1024 * 1024;
/// The collector's grace period where a test frees chunks: aged by driven passes
/// (`Gateway::collect_after`), never waited for.
const GRACE: Duration = Duration::from_secs(3600);

async fn create(s3: &Client, bucket: &str, key: &str) -> String {
    s3.create_multipart_upload().bucket(bucket).key(key).send().await.unwrap().upload_id().unwrap().to_owned()
}

async fn part(s3: &Client, bucket: &str, key: &str, id: &str, n: i32, data: &[u8]) -> CompletedPart {
    let out = s3.upload_part().bucket(bucket).key(key).upload_id(id).part_number(n).body(data.to_vec().into()).send().await.unwrap();
    CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build()
}

async fn complete(s3: &Client, bucket: &str, key: &str, id: &str, parts: Vec<CompletedPart>) -> Result<String, String> {
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .map(|o| o.e_tag().unwrap().to_owned())
        .map_err(|e| code(&e))
}

fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut all = Md5::new();
    for p in parts {
        all.update(Md5::digest(p));
    }
    format!("\"{}-{}\"", hex::encode(all.finalize()), parts.len())
}

#[tokio::test]
async fn upload_complete_and_read_back_by_range_and_part() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("mpu").send().await.unwrap();
    let parts: Vec<Vec<u8>> = vec![random_bytes(5 * MIB, 1), random_bytes(5 * MIB + 3, 2), random_bytes(MIB / 2, 3)];
    let id = create(&s3, "mpu", "big/object.bin").await;
    let mut done = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        done.push(part(&s3, "mpu", "big/object.bin", &id, i as i32 + 1, data).await);
    }
    let listed = s3.list_parts().bucket("mpu").key("big/object.bin").upload_id(&id).max_parts(2).send().await.unwrap();
    assert_eq!(listed.parts().len(), 2);
    assert_eq!(listed.is_truncated(), Some(true));
    let rest = s3
        .list_parts()
        .bucket("mpu")
        .key("big/object.bin")
        .upload_id(&id)
        .part_number_marker(listed.next_part_number_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.parts().iter().map(|p| p.part_number().unwrap()).collect::<Vec<_>>(), vec![3]);
    assert_eq!(rest.parts()[0].size(), Some(MIB as i64 / 2));

    // Not visible before completion.
    assert_eq!(status(&s3.head_object().bucket("mpu").key("big/object.bin").send().await.unwrap_err()), 404);
    let etag = complete(&s3, "mpu", "big/object.bin", &id, done).await.unwrap();
    let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    assert_eq!(etag, multipart_etag(&slices));
    let whole = parts.concat();
    let got = s3.get_object().bucket("mpu").key("big/object.bin").send().await.unwrap();
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert!(body_of(got).await == whole);

    let p2 = s3.get_object().bucket("mpu").key("big/object.bin").part_number(2).send().await.unwrap();
    assert_eq!(p2.parts_count(), Some(3));
    assert_eq!(p2.content_range(), Some(format!("bytes {}-{}/{}", 5 * MIB, 10 * MIB + 2, whole.len()).as_str()));
    assert!(body_of(p2).await == parts[1]);
    let head = s3.head_object().bucket("mpu").key("big/object.bin").part_number(3).send().await.unwrap();
    assert_eq!(head.content_length(), Some(MIB as i64 / 2));
    let e = s3.get_object().bucket("mpu").key("big/object.bin").part_number(4).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidPartNumber");

    let across =
        s3.get_object().bucket("mpu").key("big/object.bin").range(format!("bytes={}-{}", 5 * MIB - 10, 5 * MIB + 10)).send().await.unwrap();
    assert!(body_of(across).await == whole[5 * MIB - 10..5 * MIB + 11], "a range spanning two parts");

    let attrs = s3
        .get_object_attributes()
        .bucket("mpu")
        .key("big/object.bin")
        .object_attributes(ObjectAttributes::ObjectParts)
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.object_size(), Some(whole.len() as i64));
    assert_eq!(attrs.object_parts().and_then(|p| p.total_parts_count()), Some(3));

    let e = s3
        .upload_part()
        .bucket("mpu")
        .key("big/object.bin")
        .upload_id(&id)
        .part_number(1)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "NoSuchUpload", "a completed upload is gone");
}

#[tokio::test]
async fn completion_is_validated() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("val").send().await.unwrap();
    let big = random_bytes(5 * MIB, 4);
    let small = random_bytes(1000, 5);

    let id = create(&s3, "val", "k").await;
    let p1 = part(&s3, "val", "k", &id, 1, &small).await;
    let p2 = part(&s3, "val", "k", &id, 2, &big).await;
    assert_eq!(complete(&s3, "val", "k", &id, vec![p1.clone(), p2.clone()]).await, Err("EntityTooSmall".into()));
    assert_eq!(complete(&s3, "val", "k", &id, vec![p2.clone(), p1.clone()]).await, Err("InvalidPartOrder".into()));
    let wrong = CompletedPart::builder().part_number(2).e_tag("\"00000000000000000000000000000000\"").build();
    assert_eq!(complete(&s3, "val", "k", &id, vec![wrong]).await, Err("InvalidPart".into()));
    let missing = CompletedPart::builder().part_number(7).e_tag(p2.e_tag().unwrap()).build();
    assert_eq!(complete(&s3, "val", "k", &id, vec![missing]).await, Err("InvalidPart".into()));
    assert_eq!(complete(&s3, "val", "k", "00000000000000000000000000000000", vec![p2.clone()]).await, Err("NoSuchUpload".into()));
    assert_eq!(complete(&s3, "val", "k", "not-an-id", vec![p2.clone()]).await, Err("NoSuchUpload".into()));
    for bad in [0, 10001] {
        let e =
            s3.upload_part().bucket("val").key("k").upload_id(&id).part_number(bad).body(b"x".to_vec().into()).send().await.unwrap_err();
        assert_eq!(code(&e), "InvalidArgument", "part number {bad}");
    }
    // Re-uploading a part replaces it; the last part may be small.
    let p1 = part(&s3, "val", "k", &id, 1, &big).await;
    let p2_small = part(&s3, "val", "k", &id, 2, &small).await;
    let etag = complete(&s3, "val", "k", &id, vec![p1, p2_small]).await.unwrap();
    assert_eq!(etag, multipart_etag(&[&big, &small]));
    assert!(body_of(s3.get_object().bucket("val").key("k").send().await.unwrap()).await == [big.as_slice(), small.as_slice()].concat());
}

#[tokio::test]
async fn upload_part_copy_takes_a_source_range() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("cpy").send().await.unwrap();
    let source = random_bytes(7 * MIB, 6);
    s3.put_object().bucket("cpy").key("src").body(source.clone().into()).send().await.unwrap();
    let id = create(&s3, "cpy", "dst").await;
    let c1 = s3
        .upload_part_copy()
        .bucket("cpy")
        .key("dst")
        .upload_id(&id)
        .part_number(1)
        .copy_source("cpy/src")
        .copy_source_range(format!("bytes=0-{}", 5 * MIB - 1))
        .send()
        .await
        .unwrap();
    let c2 = s3
        .upload_part_copy()
        .bucket("cpy")
        .key("dst")
        .upload_id(&id)
        .part_number(2)
        .copy_source("cpy/src")
        .copy_source_range("bytes=100-199")
        .send()
        .await
        .unwrap();
    let e = s3
        .upload_part_copy()
        .bucket("cpy")
        .key("dst")
        .upload_id(&id)
        .part_number(3)
        .copy_source("cpy/src")
        .copy_source_range(format!("bytes=0-{}", 7 * MIB))
        .send()
        .await
        .unwrap_err();
    // Past the source's end: S3's 416 InvalidRange. Not "bytes=first-last": InvalidArgument.
    assert_eq!((code(&e).as_str(), status(&e)), ("InvalidRange", 416));
    let copy_range = |range: String| {
        s3.upload_part_copy().bucket("cpy").key("dst").upload_id(&id).part_number(3).copy_source("cpy/src").copy_source_range(range).send()
    };
    let e = copy_range(format!("bytes={}-{}", 7 * MIB, 7 * MIB + 10)).await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("InvalidRange", 416));
    for malformed in ["bytes=5-2", "bytes=-100", "bytes=100-", "bytes=a-b", "0-100", "bytes=0-1,3-4"] {
        let e = copy_range(malformed.to_owned()).await.unwrap_err();
        assert_eq!((code(&e).as_str(), status(&e)), ("InvalidArgument", 400), "{malformed}");
    }
    let parts = vec![
        CompletedPart::builder().part_number(1).e_tag(c1.copy_part_result().unwrap().e_tag().unwrap()).build(),
        CompletedPart::builder().part_number(2).e_tag(c2.copy_part_result().unwrap().e_tag().unwrap()).build(),
    ];
    complete(&s3, "cpy", "dst", &id, parts).await.unwrap();
    let got = body_of(s3.get_object().bucket("cpy").key("dst").send().await.unwrap()).await;
    assert!(got == [&source[..5 * MIB], &source[100..200]].concat());
    // A plain copy of a multipart object works too (flattened, chunks shared).
    s3.copy_object().bucket("cpy").key("dst-copy").copy_source("cpy/dst").send().await.unwrap();
    assert!(body_of(s3.get_object().bucket("cpy").key("dst-copy").send().await.unwrap()).await == got);
}

#[tokio::test]
async fn list_multipart_uploads_paginates_by_key_and_upload_id() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("lmu").send().await.unwrap();
    let mut ids = Vec::new();
    for key in ["a/1", "a/2", "b", "b", "c/x/y"] {
        ids.push((key, create(&s3, "lmu", key).await));
    }
    let all = s3.list_multipart_uploads().bucket("lmu").send().await.unwrap();
    assert_eq!(all.uploads().len(), 5);
    let keys: Vec<_> = all.uploads().iter().map(|u| u.key().unwrap()).collect();
    assert_eq!(keys, vec!["a/1", "a/2", "b", "b", "c/x/y"]);

    let grouped = s3.list_multipart_uploads().bucket("lmu").delimiter("/").send().await.unwrap();
    assert_eq!(grouped.common_prefixes().iter().filter_map(|p| p.prefix()).collect::<Vec<_>>(), vec!["a/", "c/"]);
    assert_eq!(grouped.uploads().len(), 2);
    let prefixed = s3.list_multipart_uploads().bucket("lmu").prefix("a/").send().await.unwrap();
    assert_eq!(prefixed.uploads().len(), 2);

    let mut seen = Vec::new();
    let (mut km, mut im) = (None::<String>, None::<String>);
    loop {
        let page = s3
            .list_multipart_uploads()
            .bucket("lmu")
            .max_uploads(2)
            .set_key_marker(km.clone())
            .set_upload_id_marker(im.clone())
            .send()
            .await
            .unwrap();
        seen.extend(page.uploads().iter().map(|u| u.upload_id().unwrap().to_owned()));
        if page.is_truncated() != Some(true) {
            break;
        }
        km = page.next_key_marker().map(str::to_owned);
        im = page.next_upload_id_marker().map(str::to_owned);
    }
    let mut expected: Vec<_> = ids.iter().map(|(_, id)| id.clone()).collect();
    expected.sort_by_key(|id| ids.iter().position(|(_, i)| i == id));
    assert_eq!(seen.len(), 5);
    assert_eq!(seen.iter().collect::<std::collections::BTreeSet<_>>().len(), 5, "no upload twice");

    s3.abort_multipart_upload().bucket("lmu").key("b").upload_id(&ids[2].1).send().await.unwrap();
    let e = s3.abort_multipart_upload().bucket("lmu").key("b").upload_id(&ids[2].1).send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchUpload");
    assert_eq!(s3.list_multipart_uploads().bucket("lmu").send().await.unwrap().uploads().len(), 4);
}

/// Paged with a delimiter (issue 17), a page that ends with a common prefix names that prefix
/// as NextKeyMarker (and no upload id), so the next page starts after it: every upload and
/// every common prefix is listed once.
#[tokio::test]
async fn list_multipart_uploads_pages_after_a_common_prefix() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("lmp").send().await.unwrap();
    for key in ["a", "d/1", "d/2", "e", "f/x"] {
        create(&s3, "lmp", key).await;
    }
    let (mut entries, mut km, mut im) = (Vec::new(), None::<String>, None::<String>);
    let mut markers = Vec::new();
    loop {
        let page = s3
            .list_multipart_uploads()
            .bucket("lmp")
            .delimiter("/")
            .max_uploads(2)
            .set_key_marker(km.clone())
            .set_upload_id_marker(im.clone())
            .send()
            .await
            .unwrap();
        entries.extend(page.uploads().iter().map(|u| u.key().unwrap().to_owned()));
        entries.extend(page.common_prefixes().iter().map(|p| p.prefix().unwrap().to_owned()));
        if page.is_truncated() != Some(true) {
            break;
        }
        km = page.next_key_marker().map(str::to_owned);
        im = page.next_upload_id_marker().map(str::to_owned);
        markers.push((km.clone(), im.is_some()));
        assert!(markers.len() < 10, "pages never end: {markers:?}");
    }
    entries.sort();
    assert_eq!(entries, ["a", "d/", "e", "f/"]);
    assert_eq!(markers, [(Some("d/".to_owned()), false)], "the first page ends with the prefix d/");
}

#[tokio::test]
async fn aborted_replaced_and_deleted_parts_free_their_chunks() {
    let gw = Gateway::start_with(|c| c.gc_grace = GRACE).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("free").send().await.unwrap();
    // Aborted upload.
    let id = create(&s3, "free", "aborted").await;
    part(&s3, "free", "aborted", &id, 1, &random_bytes(5 * MIB, 10)).await;
    part(&s3, "free", "aborted", &id, 2, &random_bytes(2 * MIB, 11)).await;
    s3.abort_multipart_upload().bucket("free").key("aborted").upload_id(&id).send().await.unwrap();
    // Completed upload with a replaced part and an unused part, then deleted.
    let id = create(&s3, "free", "done").await;
    part(&s3, "free", "done", &id, 1, &random_bytes(5 * MIB, 12)).await;
    let p1 = part(&s3, "free", "done", &id, 1, &random_bytes(5 * MIB, 13)).await;
    part(&s3, "free", "done", &id, 2, &random_bytes(MIB, 14)).await;
    complete(&s3, "free", "done", &id, vec![p1]).await.unwrap();
    assert_eq!(s3.head_object().bucket("free").key("done").send().await.unwrap().content_length(), Some(5 * MIB as i64));
    s3.delete_object().bucket("free").key("done").send().await.unwrap();
    // Past the grace period (a driven collector pass: no waiting), everything is freed.
    let report = gw.collect_after(2 * GRACE).await;
    assert_eq!(gw.chunk_bytes().await, 0, "chunk bytes never freed: {report:?}");
}

#[tokio::test]
async fn dedup_works_across_parts_of_different_sizes() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("ddp").send().await.unwrap();
    let data = random_bytes(24 * MIB, 20);
    for (key, part_size) in [("six", 6 * MIB), ("eight", 8 * MIB)] {
        let id = create(&s3, "ddp", key).await;
        let mut parts = Vec::new();
        for (i, chunk) in data.chunks(part_size).enumerate() {
            parts.push(part(&s3, "ddp", key, &id, i as i32 + 1, chunk).await);
        }
        complete(&s3, "ddp", key, &id, parts).await.unwrap();
    }
    let stored = gw.chunk_bytes().await as usize;
    eprintln!("dedup across parts: 2 x {} bytes stored as {stored} ({:.3}x)", data.len(), stored as f64 / data.len() as f64);
    assert!(stored < 24 * MIB + 4 * MIB, "two multipart copies of 24 MiB stored as {stored} bytes");
    for key in ["six", "eight"] {
        assert!(body_of(s3.get_object().bucket("ddp").key(key).send().await.unwrap()).await == data);
    }
}

#[tokio::test]
async fn deleting_a_bucket_aborts_its_uploads_and_frees_their_parts() {
    let gw = Gateway::start_with(|c| c.gc_grace = GRACE).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("gone").send().await.unwrap();
    let id = create(&s3, "gone", "pending").await;
    part(&s3, "gone", "pending", &id, 1, &random_bytes(MIB, 30)).await;
    s3.delete_bucket().bucket("gone").send().await.unwrap();
    // Someone recreating the name inherits nothing.
    s3.create_bucket().bucket("gone").send().await.unwrap();
    assert!(s3.list_multipart_uploads().bucket("gone").send().await.unwrap().uploads().is_empty());
    let e =
        s3.upload_part().bucket("gone").key("pending").upload_id(&id).part_number(2).body(b"x".to_vec().into()).send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchUpload");
    let report = gw.collect_after(2 * GRACE).await;
    assert_eq!(gw.chunk_bytes().await, 0, "the aborted upload's chunks were not freed: {report:?}");
}

#[tokio::test]
async fn copies_of_an_empty_multipart_object_stand_alone() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("empty-mp").send().await.unwrap();
    let id = create(&s3, "empty-mp", "src").await;
    let p = part(&s3, "empty-mp", "src", &id, 1, b"").await;
    complete(&s3, "empty-mp", "src", &id, vec![p]).await.unwrap();
    s3.copy_object().bucket("empty-mp").key("dst").copy_source("empty-mp/src").send().await.unwrap();
    s3.copy_object()
        .bucket("empty-mp")
        .key("src")
        .copy_source("empty-mp/src")
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .send()
        .await
        .unwrap();
    s3.delete_object().bucket("empty-mp").key("src").send().await.unwrap();
    let got = s3.get_object().bucket("empty-mp").key("dst").send().await.unwrap();
    assert_eq!(got.content_length(), Some(0));
    assert!(body_of(got).await.is_empty());
}

/// S3 answers a CompleteMultipartUpload repeated with the same parts (an SDK retrying after a
/// lost response) as it answered the first; another parts list finds no upload.
#[tokio::test]
async fn complete_repeated_with_the_same_parts_answers_the_same() {
    let gw = Gateway::start().await;
    let s3 = gw.client();
    s3.create_bucket().bucket("mpu").send().await.unwrap();
    let (a, b) = (random_bytes(5 * MIB, 7), random_bytes(1000, 8));
    let id = create(&s3, "mpu", "k").await;
    let parts = vec![part(&s3, "mpu", "k", &id, 1, &a).await, part(&s3, "mpu", "k", &id, 2, &b).await];
    let first = complete(&s3, "mpu", "k", &id, parts.clone()).await.unwrap();
    let again = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("k")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts.clone())).build())
        .send()
        .await
        .unwrap();
    assert_eq!(again.e_tag(), Some(first.as_str()));
    assert_eq!(first, multipart_etag(&[&a, &b]));
    assert_eq!(again.location(), Some("/mpu/k"));
    assert_eq!(complete(&s3, "mpu", "k", &id, parts[..1].to_vec()).await, Err("NoSuchUpload".to_owned()), "another parts list");
    assert_eq!(complete(&s3, "mpu", "other", &id, parts.clone()).await, Err("NoSuchUpload".to_owned()), "another key");
    let versions = s3.list_object_versions().bucket("mpu").send().await.unwrap();
    assert_eq!(versions.versions().len(), 1, "one object version");
    assert_eq!(body_of(s3.get_object().bucket("mpu").key("k").send().await.unwrap()).await, [a, b].concat());
}

/// A body of known length that sends its first `split` bytes at once and the rest only
/// once `gate` opens: an upload that starts first and finishes when the test says.
struct GatedBody {
    data: bytes::Bytes,
    split: usize,
    sent: usize,
    started: Option<tokio::sync::oneshot::Sender<()>>,
    gate: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl hyper::body::Body for GatedBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>> {
        use std::future::Future;
        use std::task::Poll;
        let this = self.get_mut();
        if this.sent == 0 {
            this.sent = this.split;
            if let Some(started) = this.started.take() {
                let _ = started.send(());
            }
            return Poll::Ready(Some(Ok(hyper::body::Frame::data(this.data.slice(..this.split)))));
        }
        if this.sent == this.data.len() {
            return Poll::Ready(None);
        }
        if let Some(gate) = &mut this.gate {
            if std::pin::Pin::new(gate).poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.gate = None;
        }
        this.sent = this.data.len();
        Poll::Ready(Some(Ok(hyper::body::Frame::data(this.data.slice(this.split..)))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent == self.data.len()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact((self.data.len() - self.sent) as u64)
    }
}

/// S3's rule for a part number uploaded twice: the upload that *completes* last wins, even
/// when it started first; the loser's chunks are released like any replaced part's.
#[tokio::test]
async fn a_part_uploaded_twice_is_the_last_completed_upload() {
    let gw = Gateway::start_with(|c| c.gc_grace = GRACE).await;
    let s3 = gw.client();
    s3.create_bucket().bucket("twice").send().await.unwrap();
    let id = create(&s3, "twice", "k").await;
    let (first, second) = (random_bytes(5 * MIB, 21), random_bytes(5 * MIB, 22));
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let (open, gate) = tokio::sync::oneshot::channel();
    let body = GatedBody { data: first.clone().into(), split: 3 * MIB, sent: 0, started: Some(started_tx), gate: Some(gate) };
    let slow = {
        let s3 = s3.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let body = aws_sdk_s3::primitives::ByteStream::from_body_1_x(body);
            s3.upload_part().bucket("twice").key("k").upload_id(id).part_number(1).content_length(5 * MIB as i64).body(body).send().await
        })
    };
    started.await.unwrap();
    // The second upload of part 1 starts after the first and completes before it.
    let quick = part(&s3, "twice", "k", &id, 1, &second).await;
    let listed = s3.list_parts().bucket("twice").key("k").upload_id(&id).send().await.unwrap();
    assert_eq!(listed.parts()[0].e_tag(), quick.e_tag());
    open.send(()).unwrap();
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow.e_tag().unwrap(), format!("\"{}\"", hex::encode(Md5::digest(&first))));

    // The first upload completed last: it is part 1 now.
    let listed = s3.list_parts().bucket("twice").key("k").upload_id(&id).send().await.unwrap();
    assert_eq!(listed.parts().len(), 1);
    assert_eq!(listed.parts()[0].e_tag(), slow.e_tag());
    let loser = vec![quick];
    assert_eq!(complete(&s3, "twice", "k", &id, loser).await, Err("InvalidPart".to_owned()), "the replaced upload is no part");
    let winner = vec![CompletedPart::builder().part_number(1).e_tag(slow.e_tag().unwrap()).build()];
    complete(&s3, "twice", "k", &id, winner).await.unwrap();
    assert!(body_of(s3.get_object().bucket("twice").key("k").send().await.unwrap()).await == first);

    // The loser's chunks go (its bytes shared nothing with the winner's); nothing stays pinned.
    let report = gw.collect_after(2 * GRACE).await;
    assert_eq!(gw.chunk_bytes().await, first.len() as u64, "only the winner's chunks stay: {report:?}");
    let status = match granary::admin::send(gw.dir.path(), &granary::admin::AdminRequest::Status).await.unwrap().unwrap() {
        granary::admin::AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(status["pinned_chunks"]["count"], 0);
    s3.delete_object().bucket("twice").key("k").send().await.unwrap();
    gw.collect_after(4 * GRACE).await;
    assert_eq!(gw.chunk_bytes().await, 0, "and the winner's go with the object");
}
