//! Startup, as a linear script: open the stores, make sure an admin exists, start the
//! collector and the admin socket, serve S3 until told to stop, then drain.
//! This is the only layer that names concrete backends.

use crate::admin;
use crate::chunks::ChunkBackend;
use crate::config::{MetadataBackend, ServeConfig};
use crate::edge::{Edge, EdgeConfig};
use crate::engine::collector::Collector;
use crate::engine::Engine;
use crate::events::relay::{OutboxGauge, Relay};
use crate::kv::KvStore;
use crate::limits;
use crate::meta::gateways;
use crate::meta::users::{self, NewUser, ROOT_USER};
use crate::s3::auth::KeyStoreAuth;
use crate::s3::GranaryS3;
use crate::search::SearchIndex;
use crate::status::StatusSources;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::service::S3ServiceBuilder;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

mod stores;
pub use stores::{open_chunk_copy, open_durable_chunks, open_keyring, open_stores, private_files, stop_backends, Stores};

/// Creates the admin user on first start, with the configured keys or generated ones
/// (printed once). Configured keys (`GRANARY_ROOT_*`) make the admin whenever it does not
/// exist yet, even if users were created on the stopped store before the first start;
/// generated ones only on an empty store (a store whose users were made offline gets no
/// keys printed that nobody asked for).
async fn bootstrap_admin(db: &dyn KvStore, kms: &dyn crate::kms::Kms, root_keys: Option<&(String, String)>) -> Result<(), String> {
    let exists = match root_keys {
        Some(_) => users::get_user(db, ROOT_USER).map_err(|e| e.to_string())?.is_some(),
        None => users::has_users(db).map_err(|e| e.to_string())?,
    };
    if exists {
        return Ok(());
    }
    let (ak, sk, generated) = match root_keys {
        Some((a, s)) => (a.clone(), s.clone(), false),
        None => (admin::generate_access_key(), admin::generate_secret_key(), true),
    };
    let new = NewUser { name: ROOT_USER, display_name: None, email: None };
    let actor = crate::audit::Actor { user: Some("granary".into()), source_ip: Some("local".into()), ..Default::default() };
    let audit = crate::audit::Entry::new("UserCreate", &actor, None, None).detail("user", ROOT_USER).detail("access_key", &ak);
    let secret = crate::credentials::seal(kms, &ak, &sk).await?;
    match users::create_user(db, &new, &ak, secret, Some(&audit)) {
        Ok(_) => {}
        // Another gateway sharing the store created it first (both saw no admin).
        Err(crate::meta::MetaError::UserExists(_)) => return Ok(()),
        Err(crate::meta::MetaError::AccessKeyExists(_)) => {
            return match users::lookup_key(db, &ak).map_err(|e| e.to_string())? {
                Some(key) if key.user == ROOT_USER => Ok(()),
                _ => Err(format!("the admin's access key {ak} (GRANARY_ROOT_ACCESS_KEY) is already another user's key")),
            };
        }
        Err(e) => return Err(e.to_string()),
    }
    if generated {
        println!("Created admin user '{ROOT_USER}'. These keys are shown once:");
        println!("  access key: {ak}");
        println!("  secret key: {sk}");
    } else {
        println!("Created admin user '{ROOT_USER}' with access key {ak} (as configured)");
    }
    Ok(())
}

/// A running gateway.
pub struct Server {
    pub addr: SocketAddr,
    /// This process's id among the gateways sharing the metadata store.
    pub gateway: gateways::GatewayId,
    /// This gateway's search index (tests inject write faults through it).
    pub index: Arc<SearchIndex>,
    /// This gateway's chunk collector (tests run passes at a driven time through it).
    pub collector: Arc<Collector>,
    /// The key-management seam this gateway serves with (the keyring of `--keyring`): wraps
    /// SSE data keys and seals stored credentials.
    pub kms: Arc<dyn crate::kms::Kms>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    heartbeat: tokio::task::AbortHandle,
    /// The plain-HTTP health-check listener's address (`--health-listen`).
    pub health_addr: Option<SocketAddr>,
    /// The S3 listener's certificates when it speaks TLS (tests reload them through it).
    pub tls: Option<Arc<crate::tls::Certificates>>,
    /// The chunk store this gateway writes to (with its cache tiers; tests measure it).
    pub chunks: Arc<dyn ChunkBackend>,
}

impl Server {
    pub async fn start(config: ServeConfig) -> Result<Self, String> {
        // The port first: a gateway that cannot listen must fail before it creates the data
        // directory, prints admin keys or registers a gateway that will never serve.
        let listener = bind(config.listen).await?;
        let stores = open_stores(&config.store)?;
        Self::start_listening(config, stores, listener).await
    }

    /// Starts a gateway on stores already open; several gateways may share them (as they
    /// share a FoundationDB cluster and a chunk directory).
    pub async fn start_on(config: ServeConfig, stores: Stores) -> Result<Self, String> {
        let listener = bind(config.listen).await?;
        Self::start_listening(config, stores, listener).await
    }

    async fn start_listening(config: ServeConfig, stores: Stores, listener: TcpListener) -> Result<Self, String> {
        // TLS and the health listener before anything is registered: a bad certificate or a
        // taken port fails the start with nothing left behind.
        let tls = config.tls.clone().map(crate::tls::Certificates::load).transpose()?;
        let acceptor = tls.as_ref().map(crate::tls::Certificates::acceptor).transpose()?;
        let health_listener = match config.health_listen {
            Some(a) => Some(TcpListener::bind(a).await.map_err(|e| format!("--health-listen {a}: {e}"))?),
            None => None,
        };
        let health_addr = health_listener.as_ref().map(TcpListener::local_addr).transpose().map_err(|e| e.to_string())?;
        // The access log too: a file that cannot be opened fails the start.
        let (access_log, access_log_task) = match &config.access_log {
            Some(target) => crate::edge::access_log::AccessLog::spawn(target).map(|(log, task)| (Some(log), Some(task)))?,
            None => (None, None),
        };
        let metrics = Arc::new(crate::metrics::Metrics::new(access_log.as_ref().map(crate::edge::access_log::AccessLog::dropped_counter)));
        // The chunk store answers a listing before anything is registered: a remote bucket
        // that is missing or refuses the keys fails the start, not the first upload (a 500).
        stores.chunks.list(None, 1).await.map_err(|e| {
            let durable = stores.chunks.durable_location();
            format!("{} chunk store {}: {e}", durable.kind, durable.location.as_deref().unwrap_or("(unnamed)"))
        })?;
        let kms = open_keyring(&config.store)?;
        bootstrap_admin(&*stores.db, &*kms, config.root_keys.as_ref()).await?;
        let sealing = crate::credentials::seal_stored(Arc::clone(&stores.db), &*kms).await?;
        if sealing.sealed > 0 {
            tracing::info!(access_keys = sealing.sealed, "sealed the secrets stored in plaintext before");
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        // The bound address (an operator's `:0` becomes the port actually listened on).
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let me = GatewayIdentity { listen: format!("{scheme}://{bound}"), host: host_name() };
        let gateway = {
            let (db, me) = (Arc::clone(&stores.db), me.clone());
            tokio::task::spawn_blocking(move || gateways::register(&*db, &me.listen, &me.host, crate::meta::now_ms()))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("registering this gateway: {e}"))?
        };
        tracing::info!(gateway, backend = stores.db.name(), chunks = stores.chunks.name(), "gateway registered");
        if let Some(queue) = stores.chunks.write_back_queue() {
            let owner = crate::meta::write_back_queue::QueueOwner {
                gateway: u64::from(gateway),
                host: me.host.clone(),
                dir: config.store.chunks.cache_disk_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default(),
                opened_ms: crate::meta::now_ms(),
            };
            let db = Arc::clone(&stores.db);
            tokio::task::spawn_blocking(move || crate::meta::write_back_queue::set_owner(&*db, queue, &owner))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("naming this gateway the owner of its write-back queue: {e}"))?;
        }
        let engine = Engine::new(Arc::clone(&stores.db), Arc::clone(&stores.chunks), gateway).with_kms(Arc::clone(&kms));
        // Uploads of gateways that died (on the embedded store: every earlier process) held
        // pins; release them now rather than a collector interval from now. (On a shared
        // store a gateway this process has not watched yet gets one liveness timeout first.)
        let released = engine.release_orphaned_pins().await.map_err(|e| format!("releasing abandoned uploads: {e}"))?;
        if released > 0 {
            tracing::info!(uploads = released, "released chunks pinned by uploads interrupted by a crash");
        }
        let heartbeat_task = tokio::spawn(heartbeat(Arc::clone(&stores.db), gateway, me.clone()));
        let heartbeat_handle = heartbeat_task.abort_handle();
        let chunk_store = Arc::clone(&stores.chunks);

        let collector = Arc::new(Collector::new(engine.clone(), config.gc_grace));
        let collector_task = tokio::spawn(Arc::clone(&collector).run_forever(config.gc_interval));
        let lifecycle_task = tokio::spawn(crate::engine::lifecycle::run_forever(engine.clone(), config.lifecycle_interval));
        let retention_task = config.audit.retention.map(|period| {
            let db = Arc::clone(&stores.db);
            let interval = config.gc_interval;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(interval).await;
                    let db = Arc::clone(&db);
                    let cutoff = crate::meta::now_ms() - i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
                    match tokio::task::spawn_blocking(move || crate::audit::retention::apply(&*db, cutoff, limits::AUDIT_SEGMENT_ENTRIES))
                        .await
                    {
                        Ok(Ok(n)) if n > 0 => tracing::info!(entries = n, "audit retention removed old segments"),
                        Ok(Err(e)) => tracing::warn!(error = %e, "audit retention failed"),
                        _ => {}
                    }
                }
            })
        });

        // Change events: the relay drains the outbox into Kafka when brokers are configured,
        // else into this gateway's search index.
        // With Kafka, this gateway's index follows the topic like any other consumer.
        let index = Arc::new(SearchIndex::open(&config.store.data_dir.join("index")).map_err(|e| e.to_string())?);
        let (sink, indexer): (Arc<dyn crate::events::Sink>, _) = match &config.events.kafka {
            Some(kafka) => {
                let group = config.events.indexer_group.clone().unwrap_or_else(|| default_indexer_group(&config.store.data_dir));
                let indexer = crate::search::consumer::KafkaIndexer::new(kafka, &group, Arc::clone(&index))?;
                (Arc::new(crate::events::kafka::KafkaSink::new(kafka, &config.region)?), Some(indexer))
            }
            None => (Arc::new(crate::search::IndexSink(Arc::clone(&index))), None),
        };
        let indexer_task = indexer.clone().map(|i| tokio::spawn(i.run()));
        // Upload screening: the sink queues malware scans; a gateway with clamd works them.
        let sink = crate::screening::sink::ScanSink::wrap(sink, engine.clone());
        let screening = Arc::new(crate::screening::Screening::new(config.clamd_socket.clone()));
        let _ = metrics.screening.set(Arc::clone(&screening.stats));
        if let Some(stats) = stores.chunks.cache_stats() {
            let _ = metrics.chunk_cache.set(stats);
        }
        let scan_task = crate::screening::worker::ScanWorker::new(engine.clone(), Arc::clone(&screening)).map(|w| tokio::spawn(w.run()));
        let outbox_gauge = OutboxGauge::new(config.events.outbox_max_events);
        let relay = Relay::new(Arc::clone(&stores.db), sink, gateway, Arc::clone(&outbox_gauge));
        let relay_task = tokio::spawn(Arc::clone(&relay).run());
        let depth_task = tokio::spawn(Arc::clone(&relay).watch_depth());

        let (audit_sink, audit_task) = if config.audit.enabled {
            let (sink, task) = crate::edge::AuditSink::spawn(Arc::clone(&stores.db), config.audit.unauthenticated_window);
            (Some(sink), Some(task))
        } else {
            (None, None)
        };
        let limiter = crate::connections::Limiter::new(&config.connections, config.trusted_proxies.clone());
        let scrubber = crate::engine::scrub::Scrubber::new(engine.clone(), open_chunk_copy);
        let status = Arc::new(StatusSources {
            db: Arc::clone(&stores.db),
            collector: Some(Arc::clone(&collector)),
            audit_dropped: audit_sink.as_ref().map(crate::edge::AuditSink::dropped_counter),
            relay: Some(Arc::clone(&relay)),
            index: Some(Arc::clone(&index)),
            indexer,
            cache: Some(Arc::clone(&engine.cache)),
            connections: Some(Arc::clone(&limiter)),
            scrub: Some(Arc::clone(&scrubber)),
            filesystems: vec![("data", config.store.data_dir.clone()), ("chunks", config.store.chunk_dir())],
        });

        let admin = admin::Executor { db: Arc::clone(&stores.db), kms: Arc::clone(&kms), status: Arc::clone(&status) };
        let socket = admin::socket_path(&config.store.data_dir);
        let admin_listener = admin::bind_socket(&socket).map_err(|e| format!("admin socket {}: {e}", socket.display()))?;
        let socket_admin = admin.clone();
        let admin_task = tokio::spawn(async move {
            if let Err(e) = admin::serve_socket(socket_admin, admin_listener).await {
                tracing::error!(error = %e, "admin socket stopped");
            }
        });

        let s3 = GranaryS3::new(engine.clone(), config.region.clone(), config.audit.enabled).with_bucket_defaults(config.bucket_defaults);
        let s3 = GranaryS3 { screening, ..s3 };
        let authorizer = Arc::clone(&s3.authorizer);
        let mut builder = S3ServiceBuilder::new(s3);
        builder.set_auth(KeyStoreAuth::new(engine.clone(), Arc::clone(&kms)));
        let key_limits = crate::s3::rate_limit::KeyLimits::new(config.rate_limits.per_key);
        builder.set_access(crate::s3::access::GranaryAccess::new(Arc::clone(&authorizer), outbox_gauge).with_key_limits(key_limits));
        builder.set_route(
            crate::s3::granary_api::GranaryApi::new(Arc::clone(&stores.db), status, Arc::clone(&index), authorizer)
                .with_metrics_auth(config.metrics_auth.clone())
                .with_metrics(Arc::clone(&metrics))
                .with_admin(admin),
        );
        builder.set_validation(crate::s3::granary_api::NamesWithGranaryApi);
        builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(crate::s3::post_object::s3s_config()))));
        let domain = |d: &String| crate::s3::host::VirtualHostDomain::new(d).map_err(|e| format!("--domain: {e}"));
        if let Some(d) = &config.domain {
            builder.set_host(domain(d)?);
        }
        let service = builder.build();

        let edge_config = Arc::new(EdgeConfig {
            trusted_proxies: config.trusted_proxies.clone(),
            audit: audit_sink,
            categories: config.audit.categories,
            domain: config.domain.as_ref().map(domain).transpose()?,
            body_idle: config.connections.body_idle,
            connections: Arc::clone(&limiter),
            cors: Some(Arc::new(crate::edge::cors::CorsRules::new(Arc::clone(&stores.db)))),
            metrics,
            access_log,
            source_limits: crate::s3::rate_limit::SourceLimits::new(config.rate_limits.per_source),
        });
        let idle = config.connections.idle;
        let handshake_within = config.connections.tls_handshake.min(idle);

        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let reload_task = tls.as_ref().map(|c| crate::tls::reload_on_sighup(Arc::clone(c))).transpose()?;
        let (shutdown, mut stop) = watch::channel(false);
        let data_dir = config.store.data_dir.clone();
        let db = Arc::clone(&stores.db);
        let task = tokio::spawn(async move {
            let mut http = ConnBuilder::new(TokioExecutor::new());
            // A client that never finishes its headers must not hold a connection forever
            // (the idle watchdog below covers every protocol; this is HTTP/1's own).
            http.http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(limits::HTTP_HEADER_READ_MAX_SECS).min(idle));
            let graceful = hyper_util::server::graceful::GracefulShutdown::new();
            let mut backoff = crate::connections::AcceptBackoff::default();
            loop {
                tokio::select! {
                    accepted = crate::tls::accept(&listener, health_listener.as_ref()) => {
                        let (socket, peer, entry) = match accepted {
                            Ok(accepted) => accepted,
                            Err(e) => {
                                limiter.accept_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let wait = backoff.failed(&e);
                                tokio::select! {
                                    _ = tokio::time::sleep(wait) => continue,
                                    _ = stop.changed() => break,
                                }
                            }
                        };
                        backoff.succeeded();
                        // Over a cap: closed at once, counted (no log line each).
                        let Some(slot) = limiter.admit(peer.ip()) else { continue };
                        let activity = crate::connections::Activity::new();
                        let interim = crate::edge::interim::Interim::new();
                        let edge = Edge {
                            inner: service.clone(),
                            peer: peer.ip(),
                            config: Arc::clone(&edge_config),
                            activity: Arc::clone(&activity),
                            interim: Arc::clone(&interim),
                        };
                        let edge = crate::s3::granary_api::BearerForMetrics(edge);
                        // Only the S3 listener speaks TLS; the health listener is plain HTTP.
                        let acceptor = acceptor.clone().filter(|_| entry == crate::tls::Entry::S3);
                        let from_proxy = edge_config.trusted_proxies.iter().any(|net| net.contains(&peer.ip()));
                        let edge = crate::tls::Transport::new(edge, entry, acceptor.is_some(), from_proxy);
                        let (http, watcher, limiter) = (http.clone(), graceful.watcher(), Arc::clone(&limiter));
                        tokio::spawn(async move {
                            let _slot = slot;
                            // The handshake runs here, not in the accept loop, holding the slot,
                            // under the idle watchdog and within its own bound.
                            let served = async {
                                let Some(acceptor) = acceptor else {
                                    let io = TokioIo::new(crate::edge::interim::InterimIo::new(socket, interim));
                                    return watcher.watch(http.serve_connection(io, edge).into_owned()).await;
                                };
                                match crate::tls::handshake(&acceptor, socket, handshake_within).await {
                                    Ok(stream) => {
                                        let io = TokioIo::new(crate::edge::interim::InterimIo::new(stream, interim));
                                        watcher.watch(http.serve_connection(io, edge).into_owned()).await
                                    }
                                    Err(e) => {
                                        limiter.tls_handshake_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                        tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                        Ok(())
                                    }
                                }
                            };
                            tokio::select! {
                                ended = served => if let Err(e) = ended {
                                    tracing::debug!(error = %e, "connection ended with an error");
                                },
                                // Dropping the connection closes the socket.
                                () = activity.idle(idle) => {
                                    limiter.idle_closed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                            }
                        });
                    }
                    _ = stop.changed() => break,
                }
            }
            drop(listener);
            drop(health_listener);
            if let Some(t) = reload_task {
                t.abort();
            }
            tracing::info!("draining in-flight requests");
            let drained = tokio::time::timeout(Duration::from_secs(limits::SHUTDOWN_DRAIN_MAX_SECS), graceful.shutdown()).await.is_ok();
            if !drained {
                tracing::warn!("some requests did not finish within the drain period");
            }
            collector_task.abort();
            lifecycle_task.abort();
            scrubber.stop();
            admin_task.abort();
            // Undelivered events stay in the outbox; the next relay delivers them.
            relay_task.abort();
            depth_task.abort();
            if let Some(t) = indexer_task {
                t.abort();
            }
            if let Some(t) = scan_task {
                t.abort();
            }
            if let Some(t) = retention_task {
                t.abort();
            }
            // Every connection is gone: dropping the last sink lets the audit writer flush.
            drop(edge_config);
            // Connections that outlived the drain still hold sink clones: bound the flush wait.
            if let Some(task) = audit_task {
                let _ = tokio::time::timeout(Duration::from_secs(limits::SHUTDOWN_DRAIN_MAX_SECS), task).await;
            }
            // Likewise the access log: its last lines are written before the gateway stops.
            if let Some(task) = access_log_task {
                let _ = tokio::time::timeout(Duration::from_secs(limits::SHUTDOWN_DRAIN_MAX_SECS), task).await;
            }
            let _ = std::fs::remove_file(admin::socket_path(&data_dir));
            // Requests are drained, so no upload of ours holds pins any more. (If some are
            // still running, leave the registration to expire instead of failing them now.)
            heartbeat_task.abort();
            let deregister = move || if drained { gateways::deregister(&*db, gateway) } else { Ok(()) };
            match tokio::task::spawn_blocking(deregister).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "could not deregister; other gateways will expire this one"),
                Err(e) => tracing::warn!(error = %e, "deregistering failed"),
            }
        });
        Ok(Self {
            addr,
            gateway,
            index,
            collector,
            kms,
            shutdown,
            task,
            heartbeat: heartbeat_handle,
            health_addr,
            tls,
            chunks: chunk_store,
        })
    }

    /// Stops the way a crash would, for tests of what other gateways then do: no drain, no
    /// deregistration, the heartbeat simply stops. (Requests already accepted run on.)
    pub fn abort(self) {
        self.heartbeat.abort();
        self.task.abort();
    }

    /// Stops accepting connections, drains in-flight requests, and waits until done.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

async fn bind(listen: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(listen).await.map_err(|e| format!("listening on {listen}: {e}"))
}

/// One consumer group per index: the host and the index's directory (two gateways, or a
/// gateway and `granary indexer`, on one host keep separate indexes).
fn default_indexer_group(data_dir: &std::path::Path) -> String {
    use sha2::Digest;
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = sha2::Sha256::digest(dir.to_string_lossy().as_bytes());
    format!("granary-indexer-{}-{}", host_name(), &hex::encode(digest)[..8])
}

#[derive(Clone)]
struct GatewayIdentity {
    listen: String,
    host: String,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Keeps this gateway's registration fresh, so others do not release its uploads' pins.
async fn heartbeat(db: Arc<dyn KvStore>, gateway: gateways::GatewayId, me: GatewayIdentity) {
    let mut ticks = tokio::time::interval(Duration::from_millis(limits::GATEWAY_HEARTBEAT_INTERVAL_MILLIS));
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let (db, me) = (Arc::clone(&db), me.clone());
        match tokio::task::spawn_blocking(move || gateways::heartbeat(&*db, gateway, &me.listen, &me.host, crate::meta::now_ms())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "heartbeat failed"),
            Err(e) => tracing::warn!(error = %e, "heartbeat task failed"),
        }
    }
}

/// `granary indexer`: follow the Kafka feed into `DATA_DIR/index` until SIGTERM or Ctrl-C.
pub async fn run_indexer(
    data_dir: &std::path::Path,
    kafka: &crate::events::kafka::KafkaConfig,
    group: Option<String>,
) -> Result<(), String> {
    let index = Arc::new(SearchIndex::open(&data_dir.join("index")).map_err(|e| e.to_string())?);
    let group = group.unwrap_or_else(|| default_indexer_group(data_dir));
    let indexer = crate::search::consumer::KafkaIndexer::new(kafka, &group, Arc::clone(&index))?;
    // Handlers before the line that says it runs (as `serve`).
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    println!("indexing topic {} (group {group}) into {}", kafka.topic, data_dir.join("index").display());
    let task = tokio::spawn(Arc::clone(&indexer).run());
    let mut report = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = interrupt.recv() => break,
            _ = report.tick() => {
                let s = indexer.status();
                tracing::info!(consumed = s.events_consumed, lag = ?s.consumer_lag, documents = index.documents(), "indexer");
            }
        }
    }
    task.abort();
    Ok(())
}

/// `granary serve`: run until SIGTERM or Ctrl-C.
pub async fn serve(config: ServeConfig) -> Result<(), String> {
    // The handlers first: a SIGTERM that arrives as soon as the listening line is out (an
    // orchestrator's, a test's) must drain the gateway, not kill it by the default action;
    // one during startup is kept and acted on once the gateway is up.
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let server = Server::start(config.clone()).await?;
    let scheme = if server.tls.is_some() { "https" } else { "http" };
    // The chunk store as status names it: a remote store is not the data directory's chunks/.
    let durable = server.chunks.durable_location();
    let chunks = format!("{} chunk store {}", durable.kind, durable.location.as_deref().unwrap_or("(unnamed)"));
    match &config.store.metadata {
        MetadataBackend::Embedded if durable.kind == "local" => {
            println!("granary listening on {scheme}://{} (data in {})", server.addr, config.store.data_dir.display())
        }
        MetadataBackend::Embedded => {
            println!("granary listening on {scheme}://{} (data in {}, {chunks})", server.addr, config.store.data_dir.display())
        }
        MetadataBackend::Fdb { cluster_file, root_prefix } => println!(
            "granary listening on {scheme}://{} (metadata: FoundationDB via {} under \"{root_prefix}\", {chunks})",
            server.addr,
            cluster_file.display(),
        ),
    }
    if let Some(certs) = &server.tls {
        println!("TLS certificate {} (reloaded on SIGHUP)", certs.files().cert.display());
    }
    if let Some(health) = server.health_addr {
        println!("health checks on http://{health}{} (plain HTTP, nothing else served there)", crate::tls::HEALTH_PATH);
    }
    tokio::select! {
        _ = term.recv() => {}
        _ = interrupt.recv() => {}
    }
    println!("shutting down");
    server.stop().await;
    Ok(())
}
