//! The long-running commands, `serve` and `indexer`: their flags, the config file and the
//! environment resolved into the server's configuration (flags over environment over file
//! over defaults).

use super::args::{ConnectionArgs, KafkaArgs, RateLimitArgs, ServeArgs, TlsArgs};
use crate::config::{FileConfig, ServeConfig, StoreConfig, DEFAULT_LISTEN, DEFAULT_REGION};
use std::time::Duration;

/// `granary serve`: runs the gateway until SIGTERM.
pub(super) async fn serve(args: ServeArgs, file: FileConfig, store: StoreConfig) -> Result<(), String> {
    let ServeArgs {
        listen,
        region,
        bucket_defaults,
        domain,
        gc_grace_secs,
        gc_interval_secs,
        lifecycle_interval_secs,
        trusted_proxies,
        audit,
        audit_reads,
        audit_denied,
        audit_retention_days,
        kafka,
        connections,
        tls,
        rate_limits,
        outbox_max_events,
        metrics_auth,
        metrics_token,
        access_log,
        clamd_socket,
    } = args;
    let listen = listen.or(file.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.into());
    let mut config = ServeConfig::for_data_dir(store.data_dir.clone());
    config.store = store;
    (config.events.kafka, config.events.indexer_group) = kafka.resolve(&file)?;
    connections.apply(&file, &mut config.connections);
    config.rate_limits = rate_limits.resolve(&file);
    (config.tls, config.health_listen) = tls.resolve(&file)?;
    config.listen = listen.parse().map_err(|e| format!("--listen {listen}: {e}"))?;
    config.region = region.or(file.region).unwrap_or_else(|| DEFAULT_REGION.into());
    config.domain = domain.or(file.domain);
    if let Some(text) = bucket_defaults.or(file.bucket_defaults.clone()) {
        config.bucket_defaults = crate::config::BucketDefaults::parse(&text)?;
    }
    if let Some(s) = gc_grace_secs.or(file.gc_grace_secs) {
        config.gc_grace = Duration::from_secs(s);
    }
    if let Some(s) = gc_interval_secs.or(file.gc_interval_secs) {
        config.gc_interval = Duration::from_secs(s.max(1));
    }
    if let Some(s) = lifecycle_interval_secs.or(file.lifecycle_interval_secs) {
        config.lifecycle_interval = Duration::from_secs(s.max(1));
    }
    config.trusted_proxies = crate::config::parse_proxies(&trusted_proxies.or(file.trusted_proxies.clone()).unwrap_or_default())?;
    config.audit.enabled = audit.or(file.audit).unwrap_or(true);
    config.audit.categories.reads = audit_reads.or(file.audit_reads).unwrap_or(true);
    config.audit.categories.denied = audit_denied.or(file.audit_denied).unwrap_or(true);
    if let Some(n) = outbox_max_events.or(file.outbox_max_events) {
        config.events.outbox_max_events = n.max(1);
    }
    config.audit.retention = audit_retention_days.or(file.audit_retention_days).map(|d| Duration::from_secs(d * 86_400));
    config.metrics_auth = crate::config::MetricsAuth::parse(
        metrics_auth.or(file.metrics_auth.clone()).as_deref(),
        metrics_token.or(file.metrics_token.clone()),
    )?;
    config.access_log = access_log.or(file.access_log.clone());
    config.clamd_socket = clamd_socket.or(file.clamd_socket.clone());
    config.root_keys = match (std::env::var("GRANARY_ROOT_ACCESS_KEY").ok(), std::env::var("GRANARY_ROOT_SECRET_KEY").ok()) {
        (Some(a), Some(s)) => Some((a, s)),
        (None, None) => None,
        _ => return Err("set both GRANARY_ROOT_ACCESS_KEY and GRANARY_ROOT_SECRET_KEY, or neither".into()),
    };
    crate::server::serve(config).await
}

/// `granary indexer`: follows the Kafka change feed into DATA_DIR/index until SIGTERM.
pub(super) async fn indexer(kafka: KafkaArgs, file: &FileConfig, store: &StoreConfig) -> Result<(), String> {
    let (kafka, group) = kafka.resolve(file)?;
    let kafka = kafka.ok_or("granary indexer needs --kafka-brokers (or GRANARY_KAFKA_BROKERS)")?;
    crate::server::run_indexer(&store.data_dir, &kafka, group).await
}

impl KafkaArgs {
    pub(super) fn resolve(self, file: &FileConfig) -> Result<(Option<crate::events::kafka::KafkaConfig>, Option<String>), String> {
        let kafka = match self.kafka_brokers.or(file.kafka_brokers.clone()).filter(|b| !b.trim().is_empty()) {
            Some(brokers) => Some(crate::events::kafka::KafkaConfig {
                brokers,
                topic: self.kafka_topic.or(file.kafka_topic.clone()).unwrap_or_else(|| crate::config::DEFAULT_KAFKA_TOPIC.into()),
                options: crate::config::parse_kafka_options(&self.kafka_options.or(file.kafka_options.clone()).unwrap_or_default())?,
            }),
            None => None,
        };
        Ok((kafka, self.kafka_indexer_group.or(file.kafka_indexer_group.clone())))
    }
}

impl TlsArgs {
    /// The certificate files (both or neither, from flags or the file as a pair) and the
    /// health-only listener's address.
    fn resolve(self, file: &FileConfig) -> Result<(Option<crate::tls::TlsFiles>, Option<std::net::SocketAddr>), String> {
        let (cert, key) = match (self.tls_cert, self.tls_key) {
            (None, None) => (file.tls_cert.clone(), file.tls_key.clone()),
            pair => pair,
        };
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsFiles { cert, key }),
            (None, None) => None,
            _ => return Err("TLS needs both tls_cert and tls_key (--tls-cert, --tls-key), or neither".into()),
        };
        let health = match self.health_listen.or(file.health_listen.clone()) {
            Some(a) => Some(a.parse().map_err(|e| format!("--health-listen {a}: {e}"))?),
            None => None,
        };
        Ok((tls, health))
    }
}

impl RateLimitArgs {
    fn resolve(self, file: &FileConfig) -> crate::s3::rate_limit::RateLimitSettings {
        use crate::s3::rate_limit::Rates;
        let on = |n: Option<u64>| n.filter(|&n| n > 0);
        crate::s3::rate_limit::RateLimitSettings {
            per_key: Rates {
                requests_per_sec: on(self.rate_limit_requests_per_sec.or(file.rate_limit_requests_per_sec)),
                upload_bytes_per_sec: on(self.rate_limit_upload_bytes_per_sec.or(file.rate_limit_upload_bytes_per_sec)),
            },
            per_source: Rates {
                requests_per_sec: on(self.rate_limit_source_requests_per_sec.or(file.rate_limit_source_requests_per_sec)),
                upload_bytes_per_sec: on(self.rate_limit_source_upload_bytes_per_sec.or(file.rate_limit_source_upload_bytes_per_sec)),
            },
        }
    }
}

impl ConnectionArgs {
    fn apply(self, file: &FileConfig, settings: &mut crate::connections::ConnectionSettings) {
        // Zero would close every connection (or refuse all): the least is one.
        if let Some(s) = self.connection_idle_secs.or(file.connection_idle_secs) {
            settings.idle = Duration::from_secs(s.max(1));
        }
        if let Some(s) = self.request_body_idle_secs.or(file.request_body_idle_secs) {
            settings.body_idle = Duration::from_secs(s.max(1));
        }
        if let Some(n) = self.connections_max.or(file.connections_max) {
            settings.max_count = n.max(1);
        }
        if let Some(n) = self.connections_per_source_max.or(file.connections_per_source_max) {
            settings.per_source_max_count = n.max(1);
        }
    }
}
