//! Where the S3 chunk backend's bucket is and who it signs as: `s3://bucket/prefix`, the
//! endpoint, the region, and static credentials from the usual AWS environment variables or
//! a profile of the shared credentials and config files.
//!
//! Only static keys (with an optional session token): no instance metadata, SSO, web
//! identity or credential processes, which need aws-config and its build cost. Temporary
//! credentials are read once at start and are not refreshed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The bucket and key prefix chunks live under (`s3://bucket/prefix`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
}

impl S3Location {
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| format!("chunk store {url:?}: expected s3://BUCKET[/PREFIX]"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // S3's bucket naming rules: 3-63 of lowercase letters, digits, dots and hyphens.
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !valid_bucket {
            return Err(format!("chunk store {url:?}: {bucket:?} is not a valid bucket name"));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..") && !prefix.is_empty() {
            return Err(format!("chunk store {url:?}: the prefix has an empty, . or .. segment"));
        }
        Ok(Self { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Static credentials. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// The environment a resolution reads (the process's, or a test's).
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Env for HashMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| (*v).to_owned())
    }
}

fn home(env: &dyn Env) -> Option<PathBuf> {
    env.var("HOME").map(PathBuf::from)
}

fn profile_name(env: &dyn Env) -> String {
    env.var("AWS_PROFILE").unwrap_or_else(|| "default".to_owned())
}

/// The sections of an INI file as the AWS CLI reads it: `[name]`, `key = value`, `#` and
/// `;` comments. A missing file is empty.
fn ini_sections(path: &Path) -> Result<HashMap<String, HashMap<String, String>>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_owned();
            sections.entry(name.clone()).or_default();
            current = Some(name);
        } else if let (Some(section), Some((key, value))) = (&current, line.split_once('=')) {
            sections.entry(section.clone()).or_default().insert(key.trim().to_owned(), value.trim().to_owned());
        }
    }
    Ok(sections)
}

/// The profile's settings: the credentials file's `[name]` over the config file's
/// `[profile name]` (`[default]` for the default profile), as the AWS CLI merges them.
fn profile(env: &dyn Env) -> Result<HashMap<String, String>, String> {
    let name = profile_name(env);
    let aws_dir = home(env).map(|h| h.join(".aws"));
    let config_file = env.var("AWS_CONFIG_FILE").map(PathBuf::from).or_else(|| aws_dir.as_ref().map(|d| d.join("config")));
    let credentials_file =
        env.var("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from).or_else(|| aws_dir.as_ref().map(|d| d.join("credentials")));
    let mut merged = HashMap::new();
    if let Some(path) = config_file {
        let mut sections = ini_sections(&path)?;
        let section = if name == "default" { "default".to_owned() } else { format!("profile {name}") };
        merged.extend(sections.remove(&section).unwrap_or_default());
    }
    if let Some(path) = credentials_file {
        merged.extend(ini_sections(&path)?.remove(&name).unwrap_or_default());
    }
    Ok(merged)
}

impl S3Credentials {
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`), else the
    /// profile `AWS_PROFILE` (default `default`) of `AWS_SHARED_CREDENTIALS_FILE`
    /// (`~/.aws/credentials`) and `AWS_CONFIG_FILE` (`~/.aws/config`).
    pub fn from_env(env: &dyn Env) -> Result<Self, String> {
        if let (Some(access_key_id), Some(secret_access_key)) = (env.var("AWS_ACCESS_KEY_ID"), env.var("AWS_SECRET_ACCESS_KEY")) {
            return Ok(Self { access_key_id, secret_access_key, session_token: env.var("AWS_SESSION_TOKEN") });
        }
        let mut p = profile(env)?;
        match (p.remove("aws_access_key_id"), p.remove("aws_secret_access_key")) {
            (Some(access_key_id), Some(secret_access_key)) => {
                Ok(Self { access_key_id, secret_access_key, session_token: p.remove("aws_session_token") })
            }
            _ => Err(format!(
                "no credentials for the S3 chunk store: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give \
                 profile {:?} aws_access_key_id and aws_secret_access_key in the shared credentials file",
                profile_name(env)
            )),
        }
    }
}

/// The region to sign for: `flag`, else `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
/// `region`, else `us-east-1` (what most S3-compatible servers expect).
pub fn region(flag: Option<&str>, env: &dyn Env) -> Result<String, String> {
    if let Some(region) = flag.map(str::to_owned).or_else(|| env.var("AWS_REGION")).or_else(|| env.var("AWS_DEFAULT_REGION")) {
        return Ok(region);
    }
    Ok(profile(env)?.remove("region").unwrap_or_else(|| "us-east-1".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(S3Location::parse("s3://chunks").unwrap(), S3Location { bucket: "chunks".into(), prefix: String::new() });
        assert_eq!(S3Location::parse("s3://chunks/a/b/").unwrap(), S3Location { bucket: "chunks".into(), prefix: "a/b".into() });
        for bad in ["chunks", "s3://", "s3://Chunks", "s3://ab", "s3://a_b/x", "s3://bucket/a//b", "s3://bucket/../x"] {
            assert!(S3Location::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_from_the_environment_then_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials");
        let config = dir.path().join("config");
        std::fs::write(&creds, "[default]\naws_access_key_id = AKDEF\naws_secret_access_key=SKDEF\n# c\n[work]\naws_access_key_id=AKW\naws_secret_access_key = SKW\naws_session_token = TOK\n").unwrap();
        std::fs::write(&config, "[default]\nregion = eu-west-1\n[profile work]\nregion = ap-south-1\n").unwrap();
        let (creds, config) = (creds.to_str().unwrap(), config.to_str().unwrap());
        let files = HashMap::from([("AWS_SHARED_CREDENTIALS_FILE", creds), ("AWS_CONFIG_FILE", config)]);
        let got = S3Credentials::from_env(&files).unwrap();
        assert_eq!((got.access_key_id.as_str(), got.secret_access_key.as_str(), got.session_token), ("AKDEF", "SKDEF", None));
        assert_eq!(region(None, &files).unwrap(), "eu-west-1");
        let mut work = files.clone();
        work.insert("AWS_PROFILE", "work");
        let got = S3Credentials::from_env(&work).unwrap();
        assert_eq!((got.access_key_id.as_str(), got.session_token.as_deref()), ("AKW", Some("TOK")));
        assert_eq!(region(None, &work).unwrap(), "ap-south-1");
        assert_eq!(region(Some("r1"), &work).unwrap(), "r1");
        let mut env = work.clone();
        env.extend([("AWS_ACCESS_KEY_ID", "AKENV"), ("AWS_SECRET_ACCESS_KEY", "SKENV"), ("AWS_REGION", "r2")]);
        assert_eq!(S3Credentials::from_env(&env).unwrap().access_key_id, "AKENV");
        assert_eq!(region(None, &env).unwrap(), "r2");
        assert!(!format!("{:?}", S3Credentials::from_env(&env).unwrap()).contains("SKENV"), "Debug hides the secret");
        let mut nobody = HashMap::from([("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/c"), ("AWS_CONFIG_FILE", "/nonexistent/k")]);
        assert!(S3Credentials::from_env(&nobody).unwrap_err().contains("AWS_ACCESS_KEY_ID"));
        nobody.insert("AWS_PROFILE", "missing");
        assert_eq!(region(None, &nobody).unwrap(), "us-east-1");
    }
}
