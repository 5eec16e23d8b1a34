//! The admin HTTP API (`/_granary/admin/...`): every route through signed requests, as an
//! operator on another host would call it; what it creates works with S3 at once; nobody but
//! the admin gets in; bad input is a 4xx naming the problem; each change is audited.

use crate::common::*;
use serde_json::{json, Value};

/// One request to Granary's API, signed with SigV4 by the holder of `ak`/`sk` (`None`:
/// unsigned); the status and the body (JSON bodies parsed, others as a string).
async fn call_as(gw: &Gateway, keys: Option<(&str, &str)>, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    use aws_sigv4::http_request::SignableBody;
    let endpoint = &gw.endpoint;
    let host = endpoint.trim_start_matches("http://");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if let Some(keys) = keys {
        let url = format!("{endpoint}{path}");
        let now = std::time::SystemTime::now();
        let instructions = sigv4(keys, method, &url, &[("host", host)], SignableBody::Bytes(body), signing_with_sha256(), now);
        for (k, v) in instructions.headers() {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("\r\n");
    // The gateway may refuse an oversized body before reading it all: its answer counts.
    let (status, body) = crate::common::raw_exchange(host, head.as_bytes(), body, false).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

/// As the admin.
async fn call(gw: &Gateway, method: &str, path: &str, body: Value) -> (u16, Value) {
    let bytes = if body.is_null() { Vec::new() } else { serde_json::to_vec(&body).unwrap() };
    call_as(gw, Some((ROOT_AK, ROOT_SK)), method, path, &bytes).await
}

/// An S3 error's code from its XML body.
fn s3_code(body: &Value) -> String {
    let text = body.as_str().unwrap_or_default();
    text.split("<Code>").nth(1).and_then(|r| r.split("</Code>").next()).unwrap_or_default().to_owned()
}

/// Every route with a method it takes and a body it accepts.
fn routes() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("GET", "/_granary/admin/users", Value::Null),
        ("POST", "/_granary/admin/users", json!({"name": "zed"})),
        ("DELETE", "/_granary/admin/users/zed", Value::Null),
        ("POST", "/_granary/admin/users/zed/disable", Value::Null),
        ("POST", "/_granary/admin/users/zed/enable", Value::Null),
        ("GET", "/_granary/admin/users/zed/policy", Value::Null),
        ("PUT", "/_granary/admin/users/zed/policy", json!({"Version": "2012-10-17", "Statement": []})),
        ("DELETE", "/_granary/admin/users/zed/policy", Value::Null),
        ("GET", "/_granary/admin/users/zed/keys", Value::Null),
        ("POST", "/_granary/admin/users/zed/keys", json!({})),
        ("GET", "/_granary/admin/keys", Value::Null),
        ("DELETE", "/_granary/admin/keys/GRNOPE", Value::Null),
        ("POST", "/_granary/admin/keys/GRNOPE/disable", Value::Null),
        ("POST", "/_granary/admin/keys/GRNOPE/enable", Value::Null),
        ("GET", "/_granary/admin/status", Value::Null),
        ("POST", "/_granary/admin/gc", json!({"dry_run": true})),
        ("POST", "/_granary/admin/lifecycle", json!({})),
        ("POST", "/_granary/admin/index/rebuild", Value::Null),
        ("POST", "/_granary/admin/purge", json!({"scope": {"bucket": "nope"}})),
        ("GET", "/_granary/admin/usage", Value::Null),
        ("POST", "/_granary/admin/usage/recount", Value::Null),
        ("POST", "/_granary/admin/usage/physical", json!({})),
        ("POST", "/_granary/admin/write-back/00000000000000aa/forget", Value::Null),
    ]
}

#[tokio::test]
async fn users_and_keys_are_managed_over_http_and_work_with_s3() {
    let gw = Gateway::start().await;
    let (status, created) = call(&gw, "POST", "/_granary/admin/users", json!({"name": "carol"})).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["name"], "carol");
    let (ak, sk) = (created["access_key"].as_str().unwrap().to_owned(), created["secret_key"].as_str().unwrap().to_owned());

    // The returned key works with S3 at once.
    let carol = client_for(&gw.endpoint, &ak, &sk);
    carol.create_bucket().bucket("carols").send().await.unwrap();
    carol.put_object().bucket("carols").key("k").body(b"hi".to_vec().into()).send().await.unwrap();

    let (status, list) = call(&gw, "GET", "/_granary/admin/users", Value::Null).await;
    assert_eq!(status, 200);
    let users = list["users"].as_array().unwrap();
    let entry = users.iter().find(|u| u["name"] == "carol").expect("carol is listed");
    assert_eq!(entry["disabled"], false);
    assert_eq!(entry["access_keys"][0]["access_key"], ak.as_str());
    assert!(entry["access_keys"][0].get("secret_key").is_none(), "secrets are never listed");

    // A chosen key pair; a second key through /keys.
    let (status, chosen) =
        call(&gw, "POST", "/_granary/admin/users", json!({"name": "dave", "access_key": "DAVEKEY1", "secret_key": "dave-secret-1"})).await;
    assert_eq!((status, chosen["access_key"].as_str()), (200, Some("DAVEKEY1")));
    let (status, second) = call(&gw, "POST", "/_granary/admin/users/carol/keys", json!({})).await;
    assert_eq!(status, 200, "{second}");
    let second_ak = second["access_key"].as_str().unwrap().to_owned();
    let (status, keys) = call(&gw, "GET", "/_granary/admin/users/carol/keys", Value::Null).await;
    assert_eq!((status, keys["keys"].as_array().unwrap().len()), (200, 2));
    let (status, all) = call(&gw, "GET", "/_granary/admin/keys", Value::Null).await;
    assert_eq!(status, 200);
    assert!(all["keys"].as_array().unwrap().len() >= 4, "{all}");

    // Disable and enable a key: refused by S3 in between.
    assert_eq!(call(&gw, "POST", &format!("/_granary/admin/keys/{ak}/disable"), Value::Null).await, (200, json!({"done": true})));
    let e = carol.list_objects_v2().bucket("carols").send().await.unwrap_err();
    assert_eq!(status_of(&e), 403);
    assert_eq!(call(&gw, "POST", &format!("/_granary/admin/keys/{ak}/enable"), Value::Null).await.0, 200);
    carol.list_objects_v2().bucket("carols").send().await.unwrap();

    // Disable and enable the user.
    assert_eq!(call(&gw, "POST", "/_granary/admin/users/carol/disable", Value::Null).await.0, 200);
    assert_eq!(status_of(&carol.list_objects_v2().bucket("carols").send().await.unwrap_err()), 403);
    let (_, list) = call(&gw, "GET", "/_granary/admin/users", Value::Null).await;
    assert!(list["users"].as_array().unwrap().iter().any(|u| u["name"] == "carol" && u["disabled"] == true));
    assert_eq!(call(&gw, "POST", "/_granary/admin/users/carol/enable", Value::Null).await.0, 200);
    carol.list_objects_v2().bucket("carols").send().await.unwrap();

    // Delete a key, then the user.
    assert_eq!(call(&gw, "DELETE", &format!("/_granary/admin/keys/{second_ak}"), Value::Null).await.0, 200);
    let (_, keys) = call(&gw, "GET", "/_granary/admin/users/carol/keys", Value::Null).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    assert_eq!(call(&gw, "DELETE", "/_granary/admin/users/carol", Value::Null).await.0, 200);
    let e = carol.list_objects_v2().bucket("carols").send().await.unwrap_err();
    assert_eq!(status_of(&e), 403);
}

fn status_of<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    status(e)
}

#[tokio::test]
async fn policies_are_put_read_and_deleted() {
    let gw = Gateway::start().await;
    let bob = gw.user_client("bob").await;
    bob.create_bucket().bucket("bobs").send().await.unwrap();
    let deny_list = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::bobs"}]
    });
    let (status, body) = call(&gw, "GET", "/_granary/admin/users/bob/policy", Value::Null).await;
    assert_eq!(status, 404, "no policy yet: {body}");
    assert_eq!(body["error"]["code"], "NoSuchEntity");

    let (status, body) = call(&gw, "PUT", "/_granary/admin/users/bob/policy", deny_list.clone()).await;
    assert_eq!((status, &body), (200, &json!({"done": true})));
    let (status, body) = call(&gw, "GET", "/_granary/admin/users/bob/policy", Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(body["user"], "bob");
    assert_eq!(serde_json::from_str::<Value>(body["document"].as_str().unwrap()).unwrap(), deny_list);
    assert_eq!(status_of(&bob.list_objects_v2().bucket("bobs").send().await.unwrap_err()), 403, "the policy holds");

    // A document the policy language refuses: 400 with the reason, nothing stored.
    let (status, body) = call(&gw, "PUT", "/_granary/admin/users/bob/policy", json!({"Statement": "nope"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(!body["error"]["message"].as_str().unwrap_or_default().is_empty(), "{body}");

    assert_eq!(call(&gw, "DELETE", "/_granary/admin/users/bob/policy", Value::Null).await.0, 200);
    bob.list_objects_v2().bucket("bobs").send().await.unwrap();
}

#[tokio::test]
async fn jobs_and_status_run_through_the_gateway() {
    let gw = Gateway::start().await;
    let (status, body) = call(&gw, "GET", "/_granary/admin/status", Value::Null).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.is_object() && !body.as_object().unwrap().is_empty(), "{body}");
    // The same JSON the socket's `granary status` prints: the same keys.
    let socket = match granary::admin::send(gw.dir.path(), &granary::admin::AdminRequest::Status).await.unwrap().unwrap() {
        granary::admin::AdminResponse::Json { value } => value,
        other => panic!("{other:?}"),
    };
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&body), keys(&socket));

    let s3 = gw.client();
    s3.create_bucket().bucket("jobs").send().await.unwrap();
    s3.put_object().bucket("jobs").key("a/1").body(vec![7u8; 1000].into()).send().await.unwrap();
    s3.put_object().bucket("jobs").key("b/1").body(vec![8u8; 1000].into()).send().await.unwrap();

    // Usage per bucket (the console's bucket list shows it), and its recount.
    let (status, body) = call(&gw, "GET", "/_granary/admin/usage", Value::Null).await;
    assert_eq!(status, 200, "{body}");
    let jobs = body["buckets"].as_array().unwrap().iter().find(|l| l["name"] == "jobs").cloned().unwrap_or_default();
    assert_eq!((jobs["usage"]["bytes"].as_u64(), jobs["usage"]["objects"].as_u64()), (Some(2000), Some(2)), "{body}");
    let (status, body) = call(&gw, "POST", "/_granary/admin/usage/recount", Value::Null).await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = call(&gw, "POST", "/_granary/admin/gc", json!({"dry_run": true})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&gw, "POST", "/_granary/admin/gc", Value::Null).await;
    assert_eq!(status, 200, "a pass with no body: {body}");
    assert!(body.get("chunks_deleted").is_some(), "{body}");
    let (status, body) = call(&gw, "POST", "/_granary/admin/lifecycle", json!({"at_ms": now_ms()})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&gw, "POST", "/_granary/admin/index/rebuild", Value::Null).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("indexed_objects").is_some(), "{body}");

    let (status, body) = call(&gw, "POST", "/_granary/admin/purge", json!({"scope": {"bucket": "jobs", "prefix": "a/"}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["objects_removed"], 1, "{body}");
    let left = s3.list_objects_v2().bucket("jobs").send().await.unwrap();
    let keys: Vec<_> = left.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["b/1"]);
}

#[tokio::test]
async fn only_the_admin_gets_in() {
    let gw = Gateway::start().await;
    gw.user_client("bob").await;
    for (method, path, body) in routes() {
        let bytes = if body.is_null() { Vec::new() } else { serde_json::to_vec(&body).unwrap() };
        let (status, answer) = call_as(&gw, Some(("AKBOB", "bob-secret-key")), method, path, &bytes).await;
        assert_eq!((status, s3_code(&answer).as_str()), (403, "AccessDenied"), "bob: {method} {path}: {answer}");
        let (status, answer) = call_as(&gw, None, method, path, &bytes).await;
        assert_eq!(status, 403, "unsigned: {method} {path}: {answer}");
        let (status, answer) = call_as(&gw, Some((ROOT_AK, "not-the-secret")), method, path, &bytes).await;
        assert_eq!((status, s3_code(&answer).as_str()), (403, "SignatureDoesNotMatch"), "wrong secret: {method} {path}: {answer}");
    }
    // Nothing of that happened.
    let (_, list) = call(&gw, "GET", "/_granary/admin/users", Value::Null).await;
    assert!(!list["users"].as_array().unwrap().iter().any(|u| u["name"] == "zed"), "{list}");
    // Even an unknown route says 403 to a non-admin, revealing nothing.
    let (status, _) = call_as(&gw, Some(("AKBOB", "bob-secret-key")), "GET", "/_granary/admin/nothing", b"").await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn bad_requests_are_4xx_naming_the_problem() {
    let gw = Gateway::start().await;
    let admin = Some((ROOT_AK, ROOT_SK));
    for (body, says) in [(&b"{\"name\": "[..], "not valid JSON"), (b"[\"bob\"]", "JSON object"), (b"{}", "missing field `name`")] {
        let (status, answer) = call_as(&gw, admin, "POST", "/_granary/admin/users", body).await;
        assert_eq!((status, s3_code(&answer).as_str()), (400, "InvalidArgument"), "{answer}");
        assert!(answer.as_str().unwrap().contains(says), "{answer}");
    }
    let (status, answer) = call_as(&gw, admin, "POST", "/_granary/admin/users", br#"{"name": 7}"#).await;
    assert_eq!((status, s3_code(&answer).as_str()), (400, "InvalidArgument"), "{answer}");
    let (status, answer) = call_as(&gw, admin, "PUT", "/_granary/admin/users/bob/policy", b"{not json").await;
    assert_eq!((status, s3_code(&answer).as_str()), (400, "InvalidArgument"), "{answer}");

    // Oversized: refused, never stored.
    let huge = format!("{{\"name\":\"big\",\"display_name\":\"{}\"}}", "x".repeat(granary::limits::ADMIN_HTTP_BODY_MAX_BYTES));
    let (status, answer) = call_as(&gw, admin, "POST", "/_granary/admin/users", huge.as_bytes()).await;
    assert!(status == 400 || status == 413, "{status}: {answer}");
    assert_eq!(s3_code(&answer), "EntityTooLarge", "{answer}");

    // Refusals of the operation itself: JSON errors, 404 for what does not exist.
    let (status, answer) = call(&gw, "POST", "/_granary/admin/users", json!({"name": "bad name!"})).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("InvalidRequest")), "{answer}");
    for (method, path) in [
        ("DELETE", "/_granary/admin/users/ghost"),
        ("POST", "/_granary/admin/users/ghost/disable"),
        ("GET", "/_granary/admin/users/ghost/policy"),
        ("POST", "/_granary/admin/users/ghost/keys"),
        ("DELETE", "/_granary/admin/keys/GRGHOST"),
        ("POST", "/_granary/admin/keys/GRGHOST/enable"),
    ] {
        let (status, answer) = call(&gw, method, path, Value::Null).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("NoSuchEntity")), "{method} {path}: {answer}");
    }
    assert_eq!(call(&gw, "POST", "/_granary/admin/users", json!({"name": "twice"})).await.0, 200);
    let (status, answer) = call(&gw, "POST", "/_granary/admin/users", json!({"name": "twice"})).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (409, Some("EntityAlreadyExists")), "{answer}");

    // Routes and methods.
    for path in ["/_granary/admin/nothing", "/_granary/admin/users/bob/nothing", "/_granary/admin", "/_granary/admin/index"] {
        let (status, answer) = call(&gw, "GET", path, Value::Null).await;
        assert_eq!((status, s3_code(&answer).as_str()), (404, "NoSuchKey"), "{path}: {answer}");
    }
    for (method, path) in [("PATCH", "/_granary/admin/users"), ("GET", "/_granary/admin/gc"), ("PUT", "/_granary/admin/keys/X")] {
        let (status, answer) = call(&gw, method, path, Value::Null).await;
        assert_eq!((status, s3_code(&answer).as_str()), (405, "MethodNotAllowed"), "{method} {path}: {answer}");
    }
}

#[tokio::test]
async fn every_change_is_audited_as_the_http_caller() {
    let gw = Gateway::start().await;
    assert_eq!(call(&gw, "POST", "/_granary/admin/users", json!({"name": "erin"})).await.0, 200);
    assert_eq!(call(&gw, "POST", "/_granary/admin/users/erin/disable", Value::Null).await.0, 200);
    assert_eq!(call(&gw, "DELETE", "/_granary/admin/users/erin", Value::Null).await.0, 200);
    let (status, export) = api_get(&gw.endpoint, "/_granary/audit/export?user=admin").await;
    assert_eq!(status, 200, "{export}");
    let entries: Vec<Value> = export.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    for op in ["UserCreate", "UserDisable", "UserDelete"] {
        let entry = entries.iter().find(|e| e["op"] == op).unwrap_or_else(|| panic!("no {op} entry: {export}"));
        assert_eq!(entry["actor"]["user"], "admin", "{entry}");
        assert_eq!(entry["actor"]["access_key"], ROOT_AK, "{entry}");
        assert_eq!(entry["actor"]["source_ip"], "127.0.0.1", "{entry}");
        assert!(entry["details"].to_string().contains("erin"), "{entry}");
    }
}
