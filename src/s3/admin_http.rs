//! `/_granary/admin/...`: the admin socket's requests over HTTP, for operators on another
//! host and the browser console. SigV4-signed like the rest of `/_granary`, and the admin
//! user's only (`GranaryApi` refuses everyone else with 403 before this runs). Each route
//! becomes an `admin::AdminRequest`, run by the same `admin::Executor` as the socket's, so
//! both do the same thing and audit it the same way (the entry names the HTTP caller).
//!
//! Request bodies are JSON objects holding the fields of the matching `AdminRequest` variant
//! (the path supplies the user or key it names), at most `ADMIN_HTTP_BODY_MAX_BYTES`; a
//! policy PUT's body is the policy document itself. Answers are JSON: an `AdminResponse`'s
//! fields without its tag (`Json` its value, `Done` `{"done":true}`); a refused request is
//! `{"error":{"code","message"}}` with 404 (no such user, key or policy), 409 (exists) or 400.
//! Errors of the HTTP layer itself (route, method, body) are S3's XML errors.

use crate::admin::{AdminRequest, AdminResponse, Caller, ErrorKind, Executor};
use crate::limits;
use http::{HeaderValue, Method, StatusCode};
use s3s::{s3_error, Body, S3Response, S3Result};
use serde_json::{json, Map, Value};

pub const PREFIX: &str = "/_granary/admin";

/// Whether `path` is the admin API's.
pub fn is_admin_path(path: &str) -> bool {
    path == PREFIX || path.strip_prefix(PREFIX).is_some_and(|rest| rest.starts_with('/'))
}

/// What a route reads from the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// Nothing (a body, if any, is ignored).
    None,
    /// A JSON object of the variant's fields (an empty body is `{}`).
    Fields,
    /// The policy document as it is.
    PolicyDocument,
}

/// A route: the `AdminRequest` variant (its serde tag), the fields the path gives, and what
/// the body holds.
#[derive(Debug, PartialEq, Eq)]
struct Route {
    op: &'static str,
    path_fields: Vec<(&'static str, String)>,
    input: Input,
}

fn route(op: &'static str, path_fields: Vec<(&'static str, String)>, input: Input) -> Option<Route> {
    Some(Route { op, path_fields, input })
}

/// The route of `method` on the path's `segments` (after the prefix): `Err` 404 for a path
/// the API does not have, 405 for a method the path does not take.
fn resolve(method: &Method, segments: &[String]) -> S3Result<Route> {
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (get, post, put, delete) = (method == Method::GET, method == Method::POST, method == Method::PUT, method == Method::DELETE);
    let name = |i: usize| vec![("name", segments[i].clone())];
    let known_path = matches!(
        s.as_slice(),
        ["users"]
            | ["users", _]
            | ["users", _, "disable" | "enable" | "policy" | "keys"]
            | ["keys"]
            | ["keys", _]
            | ["keys", _, "disable" | "enable"]
            | ["status" | "gc" | "lifecycle" | "purge"]
            | ["index", "rebuild"]
            | ["usage"]
            | ["usage", "recount" | "physical"]
            | ["write-back", _, "forget"]
    );
    let found = match s.as_slice() {
        ["users"] if get => route("user_list", vec![], Input::None),
        ["users"] if post => route("user_create", vec![], Input::Fields),
        ["users", _] if delete => route("user_delete", name(1), Input::None),
        ["users", _, "disable"] if post => route("user_disable", name(1), Input::None),
        ["users", _, "enable"] if post => route("user_enable", name(1), Input::None),
        ["users", _, "policy"] if get => route("user_policy_get", name(1), Input::None),
        ["users", _, "policy"] if put => route("user_policy_put", name(1), Input::PolicyDocument),
        ["users", _, "policy"] if delete => route("user_policy_delete", name(1), Input::None),
        ["users", _, "keys"] if get => route("key_list", vec![("user", segments[1].clone())], Input::None),
        ["users", _, "keys"] if post => route("key_create", vec![("user", segments[1].clone())], Input::Fields),
        ["keys"] if get => route("key_list", vec![], Input::None),
        ["keys", _] if delete => route("key_delete", vec![("access_key", segments[1].clone())], Input::None),
        ["keys", _, "disable"] if post => route("key_disable", vec![("access_key", segments[1].clone())], Input::None),
        ["keys", _, "enable"] if post => route("key_enable", vec![("access_key", segments[1].clone())], Input::None),
        ["status"] if get => route("status", vec![], Input::None),
        ["gc"] if post => route("gc", vec![], Input::Fields),
        ["lifecycle"] if post => route("lifecycle", vec![], Input::Fields),
        ["index", "rebuild"] if post => route("index_rebuild", vec![], Input::None),
        ["purge"] if post => route("purge", vec![], Input::Fields),
        ["usage"] if get => route("usage", vec![], Input::None),
        ["usage", "recount"] if post => route("usage_recount", vec![], Input::None),
        ["usage", "physical"] if post => route("usage_physical", vec![], Input::Fields),
        ["write-back", _, "forget"] if post => route("write_back_forget", vec![("queue", segments[1].clone())], Input::None),
        _ => None,
    };
    match found {
        Some(r) => Ok(r),
        None if known_path => Err(s3_error!(MethodNotAllowed, "{method} is not allowed on this admin API path")),
        None => Err(s3_error!(NoSuchKey, "no such admin API route")),
    }
}

/// The path after the prefix, split and percent-decoded; a trailing slash is ignored.
fn segments(path: &str) -> S3Result<Vec<String>> {
    let rest = path.strip_prefix(PREFIX).unwrap_or_default().trim_start_matches('/').trim_end_matches('/');
    rest.split('/')
        .map(|segment| {
            percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| s3_error!(InvalidArgument, "the path is not UTF-8"))
        })
        .collect()
}

/// The `AdminRequest` of a route and its body: the body's fields, the path's (which win),
/// the variant's tag; the CLI's optional flags default here as they do there.
fn request_of(route: Route, body: &[u8]) -> S3Result<AdminRequest> {
    let mut fields = match route.input {
        Input::None => Map::new(),
        Input::PolicyDocument => {
            let document = std::str::from_utf8(body).map_err(|_| s3_error!(InvalidArgument, "the policy document is not UTF-8"))?;
            serde_json::from_str::<Value>(document)
                .map_err(|e| s3_error!(InvalidArgument, "the policy document is not valid JSON: {e}"))?;
            let mut fields = Map::new();
            fields.insert("document".into(), Value::String(document.to_owned()));
            fields
        }
        Input::Fields if body.iter().all(u8::is_ascii_whitespace) => Map::new(),
        Input::Fields => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => return Err(s3_error!(InvalidArgument, "the request body must be a JSON object")),
            Err(e) => return Err(s3_error!(InvalidArgument, "the request body is not valid JSON: {e}")),
        },
    };
    match (route.op, fields.get_mut("scope")) {
        ("gc", _) => {
            fields.entry("dry_run").or_insert(Value::Bool(false));
        }
        ("purge", Some(Value::Object(scope))) => {
            scope.entry("prefix").or_insert(Value::String(String::new()));
        }
        _ => {}
    }
    for (name, value) in route.path_fields {
        fields.insert(name.into(), Value::String(value));
    }
    fields.insert("op".into(), Value::String(route.op.into()));
    serde_json::from_value(Value::Object(fields)).map_err(|e| s3_error!(InvalidArgument, "the request body does not fit {}: {e}", route.op))
}

fn json_response(status: StatusCode, value: &Value) -> S3Result<S3Response<Body>> {
    let text = serde_json::to_string_pretty(value).map_err(|e| s3_error!(InternalError, "{e}"))?;
    let mut resp = S3Response::new(Body::from(text));
    resp.status = Some(status);
    resp.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

/// An answer as JSON: its fields without the socket protocol's `result` tag.
fn answer(response: AdminResponse) -> S3Result<S3Response<Body>> {
    let value = match response {
        // `name` as the user's name is called everywhere else in this API.
        AdminResponse::Key { user, access_key, secret_key } => {
            json!({ "name": user, "user": user, "access_key": access_key, "secret_key": secret_key })
        }
        AdminResponse::Users { users } => json!({ "users": users }),
        AdminResponse::Keys { keys } => json!({ "keys": keys }),
        AdminResponse::Policy { user, document } => json!({ "user": user, "document": document }),
        AdminResponse::Json { value } => value,
        AdminResponse::Done => json!({ "done": true }),
        AdminResponse::Error { message } => {
            let (status, code) = match ErrorKind::of(&message) {
                ErrorKind::NotFound => (StatusCode::NOT_FOUND, "NoSuchEntity"),
                ErrorKind::Exists => (StatusCode::CONFLICT, "EntityAlreadyExists"),
                ErrorKind::Invalid => (StatusCode::BAD_REQUEST, "InvalidRequest"),
            };
            return json_response(status, &json!({ "error": { "code": code, "message": message } }));
        }
    };
    json_response(StatusCode::OK, &value)
}

/// Serves one admin API request of the (verified) admin, as `caller`.
pub async fn call(executor: &Executor, caller: Caller, method: &Method, path: &str, mut body: Body) -> S3Result<S3Response<Body>> {
    let route = resolve(method, &segments(path)?)?;
    let body = match route.input {
        Input::None => bytes::Bytes::new(),
        _ => body
            .store_all_limited(limits::ADMIN_HTTP_BODY_MAX_BYTES)
            .await
            .map_err(|_| s3_error!(EntityTooLarge, "an admin API request body is at most {} bytes", limits::ADMIN_HTTP_BODY_MAX_BYTES))?,
    };
    let request = request_of(route, &body)?;
    answer(executor.run(request, &caller).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(method: Method, path: &str) -> S3Result<Route> {
        resolve(&method, &segments(path)?)
    }

    #[test]
    fn routes_name_their_request() {
        let r = resolved(Method::POST, "/_granary/admin/users/bob%40example.com/disable").unwrap();
        assert_eq!((r.op, r.path_fields), ("user_disable", vec![("name", "bob@example.com".to_owned())]));
        assert_eq!(resolved(Method::GET, "/_granary/admin/users/").unwrap().op, "user_list");
        assert_eq!(resolved(Method::POST, "/_granary/admin/index/rebuild").unwrap().op, "index_rebuild");
        let code = |r: S3Result<Route>| r.unwrap_err().code().as_str().to_owned();
        assert_eq!(code(resolved(Method::GET, "/_granary/admin/nope")), "NoSuchKey");
        assert_eq!(code(resolved(Method::GET, "/_granary/admin/users/bob/x")), "NoSuchKey");
        assert_eq!(code(resolved(Method::PATCH, "/_granary/admin/users")), "MethodNotAllowed");
        assert_eq!(code(resolved(Method::GET, "/_granary/admin/gc")), "MethodNotAllowed");
    }

    #[test]
    fn bodies_become_the_variants_fields() {
        let create = request_of(resolved(Method::POST, "/_granary/admin/users").unwrap(), br#"{"name":"bob"}"#).unwrap();
        assert!(matches!(create, AdminRequest::UserCreate { name, access_key: None, .. } if name == "bob"));
        // The path's user wins over the body's.
        let key = request_of(resolved(Method::POST, "/_granary/admin/users/bob/keys").unwrap(), br#"{"user":"eve"}"#).unwrap();
        assert!(matches!(key, AdminRequest::KeyCreate { user, .. } if user == "bob"));
        let gc = request_of(resolved(Method::POST, "/_granary/admin/gc").unwrap(), b"").unwrap();
        assert!(matches!(gc, AdminRequest::Gc { dry_run: false }));
        let physical = || resolved(Method::POST, "/_granary/admin/usage/physical").unwrap();
        assert!(matches!(request_of(physical(), b"").unwrap(), AdminRequest::UsagePhysical { bucket: None }));
        let one = request_of(physical(), br#"{"bucket":"b"}"#).unwrap();
        assert!(matches!(one, AdminRequest::UsagePhysical { bucket: Some(b) } if b == "b"));
        let purge = request_of(resolved(Method::POST, "/_granary/admin/purge").unwrap(), br#"{"scope":{"user":"bob"}}"#).unwrap();
        assert!(matches!(purge, AdminRequest::Purge { scope } if scope.user.as_deref() == Some("bob") && scope.prefix.is_empty()));
        let doc = br#"{"Version":"2012-10-17","Statement":[]}"#;
        let put = request_of(resolved(Method::PUT, "/_granary/admin/users/bob/policy").unwrap(), doc).unwrap();
        assert!(matches!(put, AdminRequest::UserPolicyPut { document, .. } if document.as_bytes() == doc));
    }

    #[test]
    fn malformed_bodies_are_invalid_arguments() {
        let users = || resolved(Method::POST, "/_granary/admin/users").unwrap();
        for (body, says) in [(&b"{\"name\":"[..], "not valid JSON"), (b"[1]", "JSON object"), (b"{}", "missing field `name`")] {
            let e = request_of(users(), body).unwrap_err();
            assert_eq!(e.code().as_str(), "InvalidArgument");
            assert!(e.message().unwrap_or_default().contains(says), "{:?}", e.message());
        }
        let policy = resolved(Method::PUT, "/_granary/admin/users/bob/policy").unwrap();
        assert_eq!(request_of(policy, b"not json").unwrap_err().code().as_str(), "InvalidArgument");
    }
}
