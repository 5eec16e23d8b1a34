//! Every limit Granary enforces, in one place, each named with its unit.
//!
//! The metadata limits mirror FoundationDB's so that code which passes on the embedded
//! backend also passes on FoundationDB.

/// FoundationDB: a transaction may write at most 10 MB (keys + values + cleared keys).
pub const TXN_WRITTEN_MAX_BYTES: usize = 10_000_000;
/// FoundationDB: a transaction may live at most 5 seconds.
pub const TXN_DURATION_MAX_MILLIS: u64 = 5_000;
/// FoundationDB: a value may be at most 100 kB.
pub const VALUE_SIZE_MAX_BYTES: usize = 100_000;
/// FoundationDB: a key may be at most 10 kB.
pub const KEY_SIZE_MAX_BYTES: usize = 10_000;
/// How many times `transact` retries a retryable error before giving up.
pub const TXN_RETRY_MAX_COUNT: u32 = 50;
/// Conflicting key ranges named in one debug log line of a FoundationDB commit conflict.
pub const KV_CONFLICT_RANGES_LOGGED_MAX: usize = 8;
/// Commit markers (`kv::markers`) are kept this long: far beyond the longest retry loop
/// (50 attempts of at most 5 s each), so an unknown result is always resolvable.
pub const TXN_MARKER_RETENTION_MILLIS: u64 = 15 * 60 * 1000;
/// Markers removed per sweep transaction.
pub const TXN_MARKER_SWEEP_BATCH_KEYS: usize = 1000;

/// S3: object keys are at most 1024 bytes of UTF-8.
pub const OBJECT_KEY_MAX_BYTES: usize = 1024;
/// S3: a single PutObject carries at most 5 GiB.
pub const PUT_OBJECT_SIZE_MAX_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// S3: user metadata (x-amz-meta-*) is at most 2 KB in total.
pub const USER_METADATA_MAX_BYTES: usize = 2 * 1024;
/// S3: DeleteObjects takes at most 1000 keys.
pub const DELETE_OBJECTS_MAX_KEYS: usize = 1000;
/// S3: a listing page holds at most 1000 entries.
pub const LIST_PAGE_MAX_KEYS: usize = 1000;

/// Objects up to this size live inline in their metadata record (one read serves them).
/// Must stay well below `VALUE_SIZE_MAX_BYTES` so the record (headers, user metadata) fits.
pub const INLINE_OBJECT_MAX_BYTES: usize = 32 * 1024;

/// Content-defined chunking (FastCDC 2020). Chunk sizes are chosen so that:
/// - parts of a multipart upload are chunked independently, and each part boundary costs
///   about one head and one tail chunk of lost sharing (~0.4 MiB at these sizes; ~1.7 MiB
///   measured at 256 KiB / 1 MiB / 4 MiB), so re-uploads with other part sizes still
///   deduplicate "about once";
/// - a 5 GiB PutObject has at most 81,920 chunks (5 GiB / min); its manifest (~37 bytes per
///   chunk, ≤ 3.1 MB) fits one 10 MB commit, and its references are taken one chunk at a time
///   while it streams in (pins) and released through the release queue;
/// - a request holds at most one max-size chunk in memory while hashing and writing it.
pub const CHUNK_SIZE_MIN_BYTES: usize = 64 * 1024;
pub const CHUNK_SIZE_AVG_BYTES: usize = 256 * 1024;
pub const CHUNK_SIZE_MAX_BYTES: usize = 1024 * 1024;

/// Chunk references per manifest page value (each ref is ~37 bytes serialized: < 40 kB/page).
pub const MANIFEST_PAGE_MAX_REFS: usize = 1000;
/// Part references per part-list page (each ≤ ~70 bytes serialized: < 40 kB/page).
pub const PART_LIST_PAGE_MAX_REFS: usize = 500;

/// S3 multipart limits.
pub const PART_NUMBER_MAX: i32 = 10_000;
/// Every part but the last must be at least this large (EntityTooSmall).
pub const PART_SIZE_MIN_BYTES: u64 = 5 * 1024 * 1024;
/// A part carries at most 5 GiB.
pub const PART_SIZE_MAX_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// A multipart object is at most 5 TiB.
pub const MULTIPART_OBJECT_MAX_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// CopyObject (and a copy of a multipart object) reads at most 5 GiB of source.
pub const COPY_SOURCE_MAX_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// DeleteBucket aborts the bucket's uploads in progress in its own transaction when they
/// hold at most this many parts in all; beyond, it asks the client to abort them first.
pub const DELETE_BUCKET_ABORT_MAX_PARTS: usize = 10_000;
/// Status counts queue entries up to this many, then reports "at least".
pub const STATUS_COUNT_MAX: usize = 100_000;
/// S3: an account has at most 10,000 general purpose buckets (the default quota): CreateBucket
/// past it is TooManyBuckets, so ListBuckets reads at most this many.
pub const BUCKETS_PER_OWNER_MAX_COUNT: usize = 10_000;
/// S3: buckets in one page of ListBuckets, its default page size and the largest
/// `max-buckets` it accepts.
pub const LIST_BUCKETS_PAGE_MAX_COUNT: usize = 10_000;
/// Users, and access keys in all, that `granary user list` reads in one transaction; past
/// either, creating more is refused (the listing could not show them).
pub const USERS_MAX_COUNT: usize = 10_000;
pub const ACCESS_KEYS_MAX_COUNT: usize = 100_000;
/// Rows a lifecycle pass reads under one key to count the versions newer than a candidate
/// (delete markers do not count, so more rows than NewerNoncurrentVersions may be needed);
/// a key with more rows than this keeps the candidate (never expires on an uncounted basis).
pub const LIFECYCLE_NEWER_VERSIONS_SCAN_MAX_ROWS: usize = 10_000;
/// Distinct operation names one user's activity counts per day (S3 and admin operations:
/// about 70 today); with the chains and days it bounds an activity query's read.
pub const AUDIT_ACTIVITY_OPS_MAX_COUNT: usize = 256;
/// ListParts / ListMultipartUploads page size.
pub const LIST_PARTS_MAX: usize = 1000;

/// Default grace period before a chunk whose refcount reached zero is deleted from disk.
pub const GC_GRACE_DEFAULT_SECS: u64 = 3600;
/// Chunks the collector examines per transaction.
pub const GC_BATCH_MAX_CHUNKS: usize = 256;
/// Chunk-store calls (stat, delete) one background job (collector, purge) keeps in flight:
/// enough to hide a remote store's latency, few enough to leave the store to requests.
pub const CHUNK_JOB_CALLS_IN_FLIGHT_MAX: usize = 8;
/// Chunks one page of a chunk-store listing holds (fsck and scrub walk the store page by
/// page, never holding all of its names).
pub const CHUNK_LIST_PAGE_MAX_COUNT: usize = 1000;
/// Requests the S3 chunk backend (`chunks::s3`) has in flight at once; more wait for a permit.
pub const CHUNK_REMOTE_REQUESTS_IN_FLIGHT_MAX: usize = 32;
/// One attempt of a request to the S3 chunk store (connect, send, whole answer) that takes
/// longer fails and is retried: a chunk is at most 1 MiB.
pub const CHUNK_REMOTE_ATTEMPT_TIMEOUT_SECS: u64 = 30;
/// Connecting to the S3 chunk store takes at most this long per attempt.
pub const CHUNK_REMOTE_CONNECT_TIMEOUT_SECS: u64 = 5;
/// Attempts of one request to the S3 chunk store before it is `Unavailable` (503 to clients):
/// retried on 5xx, throttling, timeouts and broken connections.
pub const CHUNK_REMOTE_ATTEMPTS_MAX: u32 = 5;
/// Backoff before retry n (from 0): half of `min(MAX, BASE * 2^n)` plus a random part of the
/// other half (jitter keeps gateways from retrying in step).
pub const CHUNK_REMOTE_BACKOFF_BASE_MILLIS: u64 = 100;
pub const CHUNK_REMOTE_BACKOFF_MAX_MILLIS: u64 = 5_000;
/// An answer of the S3 chunk store is read up to this many bytes (a chunk, or a listing
/// page of 1000 keys), past which it is refused.
pub const CHUNK_REMOTE_ANSWER_MAX_BYTES: usize = 4 * 1024 * 1024;
/// The memory tier of chunk caches (`chunks::tiered`) in front of a remote chunk store, unless
/// `--chunk-cache-memory-bytes` says otherwise (0 for the local directory, which the page
/// cache serves).
pub const CHUNK_CACHE_MEMORY_DEFAULT_BYTES: u64 = 64 * 1024 * 1024;
/// Writes filling the local-disk cache tier in the background at once; past this a read or
/// write does not fill the tier (it never waits for it).
pub const CHUNK_CACHE_FILLS_IN_FLIGHT_MAX: usize = 8;
/// `--chunk-write-back`: uploads of acknowledged chunks to the durable tier at once.
pub const CHUNK_WRITE_BACK_UPLOADS_IN_FLIGHT_MAX: usize = 4;
/// `--chunk-write-back`: a failed upload is retried after a backoff doubling up to this.
pub const CHUNK_WRITE_BACK_RETRY_MAX_MILLIS: u64 = 30_000;
/// `--chunk-write-back`: usage (the scrub's total) waits this long for pending uploads to
/// finish, else is unknown.
pub const CHUNK_WRITE_BACK_DRAIN_WAIT_SECS: u64 = 5;
/// Write-back queues `granary status` lists (each gateway with a write-back directory has
/// one; past this, the first by id).
pub const WRITE_BACK_QUEUES_LISTED_MAX_COUNT: usize = 256;
/// Records dropped per transaction by `granary write-back forget` (each writes 2 clears and
/// 3 counter adds: far below the 10 MB transaction limit).
pub const WRITE_BACK_FORGET_BATCH_MAX_COUNT: usize = 1000;
/// `granary scrub` on a running gateway reads at most this many bytes per second unless
/// `--rate` says otherwise (a stopped store is scrubbed unthrottled): ~4 TB a day, while
/// leaving the disks to clients.
pub const SCRUB_ONLINE_RATE_DEFAULT_BYTES_PER_SEC: u64 = 50_000_000;
/// Bad chunks a scrub names in its report (all are counted): a wholly rotten store must not
/// make the report as large as the store's listing.
pub const SCRUB_BAD_CHUNKS_LISTED_MAX: usize = 10_000;
/// Bad chunks `granary status` names of a scrub (the report has them all, up to the above).
pub const SCRUB_STATUS_BAD_CHUNKS_MAX: usize = 20;
/// Objects named per bad chunk (a chunk deduplicated across many objects).
pub const SCRUB_OBJECTS_PER_BAD_CHUNK_MAX: usize = 100;

/// Chunks of one request body hashed, pinned and written concurrently (memory per upload:
/// this many chunks of at most `CHUNK_SIZE_MAX_BYTES`, plus the one being cut).
pub const INGEST_CHUNKS_IN_FLIGHT_MAX: usize = 3;
/// An upload whose chunk is being deleted by the collector (`Collecting`) retries its pin
/// this many times, this long apart (2 s in all: far longer than deleting one batch of files
/// takes), before failing the request.
pub const INGEST_PIN_RETRY_MAX_COUNT: u32 = 200;
pub const INGEST_PIN_RETRY_DELAY_MILLIS: u64 = 10;
/// Chunks in flight between a response's reader task and its body (one: the next chunk is
/// read while the client receives this one).
pub const READ_AHEAD_CHUNKS: usize = 1;
/// Chunks of one response being read and verified at once (memory per download: this many
/// chunks of at most `CHUNK_SIZE_MAX_BYTES`, plus the read-ahead).
pub const READ_CHUNKS_IN_FLIGHT_MAX: usize = 2;

/// Records of each kind (credentials, buckets, manifests) the metadata cache keeps.
pub const METADATA_CACHE_ENTRIES: usize = 10_000;
/// Unwrapped server-side encryption keys kept in memory, per cache (domains for writes,
/// objects' wrapped keys for reads): each entry is a key schedule of a few hundred bytes.
pub const SSE_KEY_CACHE_ENTRIES: usize = 4_096;
/// Parsed access rules the access decision keeps: bucket rules (policy, ACL, ownership,
/// public access block) and user policies, each (a policy is at most
/// `POLICY_DOCUMENT_MAX_BYTES` of text, parsed into about as much again).
pub const ACCESS_RULES_CACHE_MAX_ENTRIES: usize = 2_000;

/// Lifecycle: items (objects, versions) acted on per transaction, and candidates one rule
/// collects per bucket per pass (the rest wait for the next pass, so a pass's memory is
/// bounded whatever the bucket's size).
pub const LIFECYCLE_TXN_ITEMS_MAX: usize = 20;
pub const LIFECYCLE_PASS_ITEMS_MAX: usize = 100_000;
/// How often each gateway applies lifecycle rules.
pub const LIFECYCLE_INTERVAL_DEFAULT_SECS: u64 = 3600;
/// Lifecycle: buckets whose configurations are read per metadata read (a pass pages through
/// every configured bucket in reads of this many).
pub const LIFECYCLE_BUCKETS_PER_READ: usize = 100;

/// Admin socket: one request line at most this long.
pub const ADMIN_REQUEST_MAX_BYTES: usize = 64 * 1024;
/// Admin HTTP API (`/_granary/admin/`): a request body (JSON, or a policy document) at most
/// this long, as the socket's request line.
pub const ADMIN_HTTP_BODY_MAX_BYTES: usize = ADMIN_REQUEST_MAX_BYTES;
/// A client must send its request headers within this long (HTTP/1; every protocol is
/// also bound by the idle timeout, and this never exceeds it).
pub const HTTP_HEADER_READ_MAX_SECS: u64 = 20;
/// A TLS client must finish its handshake within this long (its connection holds a slot of
/// the connection caps meanwhile; never longer than the idle timeout). Handshakes take a few
/// round trips, well under a second on any working link.
pub const TLS_HANDSHAKE_MAX_SECS: u64 = 10;
/// Default: a connection with no request in flight for this long is closed, whatever bytes
/// trickle in (S3 closes idle connections after about 20 s). `--connection-idle-secs`.
pub const CONNECTION_IDLE_MAX_SECS: u64 = 20;
/// Default: a request body that delivers no bytes for this long fails with 400
/// RequestTimeout, as S3's does. `--request-body-idle-secs`.
pub const REQUEST_BODY_IDLE_MAX_SECS: u64 = 20;
/// The longest idle or request-body timeout honoured (one day): longer settings are treated as
/// this long, so a deadline (`Instant + timeout`) never overflows.
pub const CONNECTION_TIMEOUT_MAX_SECS: u64 = 24 * 60 * 60;
/// Default: connections open at once, in all (`--connections-max`); beyond, new ones are
/// closed on arrival. Below the usual descriptor limit of a server, with room for chunk files.
pub const CONNECTIONS_MAX_COUNT: usize = 4096;
/// Default: connections open at once from one source address (`--connections-per-source-max`).
/// An SDK with a large pool uses 50-100; one client must not be able to take them all.
pub const CONNECTIONS_PER_SOURCE_MAX_COUNT: usize = 256;
/// Refused connections are logged as one summary line at most this often.
pub const CONNECTION_REFUSED_LOG_INTERVAL_SECS: u64 = 10;
/// After a failed accept (e.g. out of descriptors) the loop waits this long, doubling up to
/// the max, instead of retrying at once (which spins a core and helps nothing).
pub const ACCEPT_RETRY_MIN_MILLIS: u64 = 10;
pub const ACCEPT_RETRY_MAX_MILLIS: u64 = 1_000;
/// Graceful shutdown: in-flight requests get this long to finish after SIGTERM.
pub const SHUTDOWN_DRAIN_MAX_SECS: u64 = 30;

/// Audit: independent hash chains, so concurrent writers rarely share a chain head.
pub const AUDIT_CHAIN_COUNT: u16 = 16;
/// Audit entries read per transaction when verifying, querying or exporting.
pub const AUDIT_VERIFY_BATCH_ENTRIES: usize = 1000;
/// Audit: reads and denied requests are written off the request path in batches of at most
/// this many entries...
pub const AUDIT_BATCH_MAX_ENTRIES: usize = 256;
/// ...or after at most this long.
pub const AUDIT_BATCH_MAX_DELAY_MILLIS: u64 = 200;
/// Audit: entries waiting for the batch writer; beyond this, read/denied entries are dropped
/// (and counted) rather than slowing requests down. Mutations are never dropped.
pub const AUDIT_QUEUE_MAX_ENTRIES: usize = 65_536;
/// Client-supplied audit fields (user agent, ...) are cut to this many bytes.
pub const AUDIT_FIELD_MAX_BYTES: usize = 512;
/// Audit query pages hold at most this many entries.
pub const AUDIT_PAGE_MAX_ENTRIES: usize = 1000;
/// An audit `page_token` (an index key, base64) is at most this long: index keys hold a key
/// of at most `OBJECT_KEY_MAX_BYTES`, escaped (so at most doubled), plus fixed fields.
pub const AUDIT_PAGE_TOKEN_MAX_BYTES: usize = 4096;
/// A `bucket_id` query parameter is at most this long (ids are 32 hex digits).
pub const AUDIT_BUCKET_ID_MAX_BYTES: usize = 64;
/// A `user` query parameter of the audit API is at most this long.
pub const AUDIT_QUERY_USER_MAX_BYTES: usize = 1024;
/// Audit activity covers at most this many days (larger `days` get this many).
pub const AUDIT_ACTIVITY_MAX_DAYS: u64 = 3660;
/// Audit retention removes whole segments of this many entries of a chain.
pub const AUDIT_SEGMENT_ENTRIES: u64 = 1024;

/// A chunk claimed for collection (`Collecting`) is taken over by another collector only
/// after this long: far longer than deleting a batch of files takes, so a live collector
/// never loses its claim mid-delete.
pub const COLLECT_CLAIM_STALE_MILLIS: i64 = 10 * 60 * 1000;
/// A gateway refreshes its registration this often (`meta::gateways`).
pub const GATEWAY_HEARTBEAT_INTERVAL_MILLIS: u64 = 5_000;
/// A gateway whose heartbeat is older than this is dead: other gateways release the chunk
/// pins of its uploads. Six missed heartbeats, so a busy gateway is not declared dead.
pub const GATEWAY_LIVENESS_TIMEOUT_MILLIS: i64 = 30_000;
/// At most this many gateway registrations are read (status, sweeps).
pub const GATEWAY_COUNT_MAX: usize = 10_000;

/// A chunk temp file older than this at startup belongs to a write that died; younger ones
/// may be another gateway's write in progress on a shared chunk directory. A chunk write
/// (at most `CHUNK_SIZE_MAX_BYTES`) takes far less.
pub const CHUNK_TMP_ABANDONED_AFTER_SECS: u64 = 3600;

/// Events the relay reads, delivers and removes per round.
pub const RELAY_BATCH_MAX_EVENTS: usize = 512;
/// How often an idle relay looks for new events.
pub const RELAY_IDLE_POLL_MILLIS: u64 = 50;
/// After delivering a batch that was not full, the relay waits this long for the next one to
/// fill (Kafka's `linger.ms`, for the outbox).
pub const RELAY_LINGER_MILLIS: u64 = 200;
/// After a failed delivery the relay waits this long, doubling up to the max.
pub const RELAY_RETRY_MIN_MILLIS: u64 = 200;
pub const RELAY_RETRY_MAX_MILLIS: u64 = 5_000;
/// One gateway relays at a time (others would only duplicate deliveries): it holds a lease
/// of this length, renewed at half-life, taken over by another gateway when it lapses. Three
/// times the Kafka delivery timeout, so a slow delivery does not outlive the lease.
pub const RELAY_LEASE_MILLIS: i64 = 30_000;
/// How often every gateway re-reads the outbox depth (the SlowDown gauge).
pub const OUTBOX_DEPTH_REFRESH_MILLIS: u64 = 250;
/// The broker must acknowledge a message within this time, or the batch is retried.
pub const KAFKA_DELIVERY_TIMEOUT_MILLIS: u64 = 10_000;
/// The Kafka indexer's metadata calls (topic partitions, committed offsets, watermarks) give
/// up after this long: the broker answers these in milliseconds when it is reachable.
pub const KAFKA_METADATA_TIMEOUT_SECS: u64 = 5;
/// Default bound on undelivered events: past it, mutations fail with 503 SlowDown rather
/// than lose events (`outbox_max_events`).
pub const OUTBOX_EVENTS_MAX_DEFAULT: u64 = 1_000_000;

/// Events the Kafka indexer applies per index commit (and offset commit).
pub const INDEXER_BATCH_MAX_EVENTS: usize = 128;
/// While the search index keeps failing, its error is logged at most once per this many
/// seconds (with the count of failures in between); status and metrics show every one.
pub const INDEX_ERROR_LOG_INTERVAL_SECS: u64 = 60;
/// Search results per page at most, and the default.
pub const SEARCH_PAGE_MAX_RESULTS: usize = 1000;
pub const SEARCH_PAGE_DEFAULT_RESULTS: usize = 100;
/// A search query (`q`) is at most this long: room for a `prefix:` of a longest key and more
/// terms, while each term's automaton stays small.
pub const SEARCH_QUERY_MAX_BYTES: usize = 4096;
/// A search prefix (`prefix:` and `type:...*` terms, suggest's `prefix`) is at most this long:
/// the index compiles each into an automaton of at most 1000 states, about one per byte.
pub const SEARCH_PREFIX_MAX_BYTES: usize = 900;
/// Search pages reach this far into the results at most (the index collects offset + limit).
pub const SEARCH_OFFSET_MAX_RESULTS: usize = 10_000;
/// Suggestions look at this many matching keys at most.
pub const SEARCH_SUGGEST_SCAN_MAX_KEYS: usize = 1000;
/// Memory the search index writer may use before it flushes a segment (one writer thread).
pub const SEARCH_WRITER_MEMORY_BYTES: usize = 20_000_000;
/// Word prefixes are indexed up to this many characters (longer `prefix:` terms match on
/// their first this many): bounds the index's size per key.
pub const SEARCH_WORD_PREFIX_MAX_CHARS: usize = 32;
/// `index rebuild` reads bucket names, and each bucket's objects, this many per metadata read.
pub const SEARCH_REBUILD_BATCH_RECORDS: usize = 1000;

/// Request rules (`s3::request_rules`), as S3 enforces them.
/// A header-signed request's date may differ from the gateway's clock by at most this much
/// (S3: 15 minutes, RequestTimeTooSkewed): a captured request cannot be replayed later.
pub const REQUEST_TIME_SKEW_MAX_SECS: i64 = 15 * 60;
/// S3: a presigned URL lives at most a week (`X-Amz-Expires` ≤ 604800).
pub const PRESIGNED_URL_EXPIRES_MAX_SECS: i64 = 604_800;
/// A presigned URL dated this far ahead of the gateway's clock is already valid (clock
/// skew between the signer and the gateway); later ones are "not valid yet".
pub const PRESIGNED_URL_FUTURE_SKEW_MAX_SECS: i64 = 60;
/// POST Object (browser forms, `s3::post_object`): s3s buffers a form's file in memory
/// before the handler streams it to storage, so a file is at most this large (S3 takes up
/// to 5 GiB by POST; larger browser uploads use a presigned PUT or a multipart upload).
pub const POST_OBJECT_SIZE_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// POST Object requests served at once (their buffered files: at most this many times
/// `POST_OBJECT_SIZE_MAX_BYTES` of memory); one more waits for its turn at most
/// `POST_OBJECT_ADMISSION_WAIT_MAX_SECS`, then answers 503 SlowDown.
pub const POST_OBJECTS_IN_FLIGHT_MAX: usize = 8;
pub const POST_OBJECT_ADMISSION_WAIT_MAX_SECS: u64 = 30;
/// S3: a form's fields before its file (policy, signature, key, metadata...) are at most
/// 20 KB (MaxPostPreDataLengthExceededError).
pub const POST_OBJECT_FORM_FIELDS_MAX_BYTES: usize = 20 * 1024;
/// A signed form is usable this long after its `x-amz-date` (S3: until its policy expires,
/// signed with a key valid for a week), not just the 15 minutes of a header-signed request.
pub const POST_FORM_SIGNED_AGE_MAX_SECS: u32 = 604_800;
/// S3: an XML request body (DeleteObjects, CompleteMultipartUpload, configurations) is at
/// most this large; s3s reads such bodies whole, so the declared length is checked first.
pub const XML_BODY_MAX_BYTES: u64 = 20 * 1024 * 1024;
/// XML bodies sent chunked with no length read at once, each at most `XML_BODY_MAX_BYTES`
/// (they are read before the signature is checked: s3s needs the length first); one more
/// waits at most `XML_BODY_UNSIZED_ADMISSION_WAIT_MAX_SECS`, then answers 503 SlowDown.
pub const XML_BODIES_UNSIZED_IN_FLIGHT_MAX: usize = 16;
pub const XML_BODY_UNSIZED_ADMISSION_WAIT_MAX_SECS: u64 = 30;
/// Unsigned header names quoted in one AccessDenied message at most.
pub const UNSIGNED_HEADERS_REPORTED_MAX_COUNT: usize = 8;

/// Requests that fail without a verified signature (anonymous, unknown key, bad signature)
/// are not audited one by one: anyone can send them. They are counted per (source address,
/// error code) and written as one entry per group when the window closes, so an
/// unauthenticated flood adds a bounded number of entries however fast it is sent.
pub const AUDIT_UNAUTHENTICATED_WINDOW_MAX_SECS: u64 = 60;
/// Groups kept per window; requests of further groups are counted in one overflow entry
/// (source `*`), so many source addresses cannot grow the trail either.
pub const AUDIT_UNAUTHENTICATED_GROUPS_MAX_COUNT: usize = 64;
/// Each client-supplied text in an unauthenticated request's entry (key, user agent,
/// claimed access key, request line) is cut to this length.
pub const AUDIT_UNAUTHENTICATED_FIELD_MAX_BYTES: usize = 128;
/// Entries about unauthenticated requests written per UTC day at most (each under 1 KB):
/// without it a steady flood from many sources would still add `groups + 1` entries a
/// minute, forever. Past it, refused requests are only counted (status: audit entries
/// dropped) until the next day.
pub const AUDIT_UNAUTHENTICATED_ENTRIES_PER_DAY_MAX_COUNT: u64 = 1440;

// Metadata (`meta`): S3's limits on configuration, and the bounds of range reads inside
// transactions. Each read bound is at or above the most rows the range can hold, so it never
// cuts a read short; it states that assumption where the read is written.

/// S3: at most 10 tags on an object (and on a lifecycle rule's filter).
pub const OBJECT_TAGS_MAX: usize = 10;
/// S3: at most 50 tags on a bucket.
pub const BUCKET_TAGS_MAX: usize = 50;
/// S3: a tag key is 1 to 128 characters.
pub const TAG_KEY_MAX_CHARS: usize = 128;
/// S3: a tag value is at most 256 characters.
pub const TAG_VALUE_MAX_CHARS: usize = 256;
/// S3: at most 1,000 lifecycle rules per bucket.
pub const LIFECYCLE_RULES_MAX: usize = 1000;
/// S3: a lifecycle rule's id is at most 255 characters.
pub const LIFECYCLE_RULE_ID_MAX_CHARS: usize = 255;
/// S3: NewerNoncurrentVersions keeps at most 100 noncurrent versions.
pub const LIFECYCLE_NEWER_NONCURRENT_VERSIONS_MAX: u32 = 100;
/// S3: a bucket's CORS configuration has at most 100 rules.
pub const CORS_RULES_MAX_COUNT: usize = 100;
/// S3: a CORS configuration document is limited to 64 KB (as `cors::CorsConfig::document_bytes`
/// counts it).
pub const CORS_CONFIGURATION_MAX_BYTES: usize = 64 * 1024;
/// S3: a CORS rule's ID is at most 255 characters.
pub const CORS_RULE_ID_MAX_CHARS: usize = 255;
/// A preflight's `Access-Control-Request-Headers` names at most this many headers (more: 403,
/// not allowed): bounds the matching work an unauthenticated request causes.
pub const CORS_PREFLIGHT_HEADERS_MAX_COUNT: usize = 100;
/// The edge's cache of buckets' CORS rules (`edge::cors`) holds at most this many bytes of
/// configuration (each entry weighs its document's size), about this many buckets.
pub const CORS_CACHE_MAX_BYTES: u64 = 16 * 1024 * 1024;
pub const CORS_CACHE_ESTIMATED_BUCKETS: usize = 10_000;
/// S3: an access control list holds at most 100 grants.
pub const ACL_GRANTS_MAX_COUNT: usize = 100;
/// S3: a default retention period is at most 100 years (stored as days).
pub const DEFAULT_RETENTION_MAX_DAYS: u32 = 36_500;
/// Kafka: a topic name is at most 249 characters (a notification rule's ARN names one).
pub const KAFKA_TOPIC_NAME_MAX_BYTES: usize = 249;
/// Rows per batch of `meta::scan_range`: each batch is its own snapshot, so a scan of any
/// size stays within one transaction's limits.
pub const META_SCAN_BATCH_ROWS: usize = 1000;
/// Shards of the outbox depth counter: writers add to a random one (no hot key), the depth
/// is their sum, so reading the depth reads exactly this many rows.
pub const OUTBOX_DEPTH_SHARDS: u64 = 16;
/// Shards of each usage counter (`meta::usage`): a write adds to the shard of its object key,
/// so reading a bucket's or user's usage reads twice this many rows (bytes and objects).
pub const USAGE_COUNTER_SHARDS: u64 = 16;
/// `granary usage --recount` names at most this many drifted counters (all are counted).
pub const USAGE_RECOUNT_DRIFT_LISTED_MAX: usize = 100;
/// `granary usage --physical` (`meta::physical_scan`): distinct chunks of one bucket tallied
/// in memory (about 64 bytes each: some 32 MB) before the tally spills to a temporary store
/// on disk under the data directory; and that store's write buffer, in bytes.
pub const PHYSICAL_USAGE_TALLY_MEMORY_MAX_CHUNKS: usize = 500_000;
pub const PHYSICAL_USAGE_SPILL_BUFFER_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Bucket incarnations whose "a quota applies" note a gateway keeps (`meta::quota`; about
/// 100 bytes each). An evicted note costs one write two reads of the limits.
pub const QUOTA_NOTES_MAX_ENTRIES: usize = 65_536;
/// Limits per (bucket or user, configuration generation) the access decision keeps.
pub const QUOTA_LIMITS_CACHE_MAX_ENTRIES: usize = 10_000;
/// Rate limits (`s3::rate_limit`): token buckets kept per source address (IPv6: per /64)
/// and per access key, each about 100 bytes. Past this, the least recently used go (a bucket
/// evicted in debt starts full again: a client needs this many sources to use that).
pub const RATE_LIMIT_SOURCES_MAX_COUNT: usize = 65_536;
pub const RATE_LIMIT_KEYS_MAX_COUNT: usize = 65_536;
/// A request refused by a rate limit is told to retry after at most this many seconds.
pub const RATE_LIMIT_RETRY_AFTER_MAX_SECS: u64 = 3_600;
/// Part records of one multipart upload, read whole by complete, abort and purge: one per
/// part number, and part numbers are 1 to `PART_NUMBER_MAX`.
pub const UPLOAD_PARTS_MAX_COUNT: usize = PART_NUMBER_MAX as usize;
/// Pages of one manifest or part list, read whole. The largest manifest (5 GiB, at the
/// 64 KiB minimum chunk: 81,920 chunks, by `MANIFEST_PAGE_MAX_REFS`) has 82 pages, a part
/// list of 10,000 parts (by `PART_LIST_PAGE_MAX_REFS`) 20: a wide margin over both.
pub const MANIFEST_PAGES_MAX_COUNT: usize = 1000;
/// A completed multipart upload's record (`meta::uploads::completed`) is kept this long, so a
/// CompleteMultipartUpload retried after a lost response answers as the first did.
pub const COMPLETED_UPLOAD_RETENTION_MILLIS: i64 = 24 * 60 * 60 * 1000;
/// Completed-upload records removed per sweep transaction.
pub const COMPLETED_UPLOAD_SWEEP_BATCH_KEYS: usize = 500;
/// S3: a bucket policy is at most 20 KiB; user policies share the bound. A longer document
/// is refused before it is parsed.
pub const POLICY_DOCUMENT_MAX_BYTES: usize = 20 * 1024;
/// Statements in one policy document: every request evaluates each of them, so their number
/// bounds the work of one decision (a minimal statement is ~50 bytes: 20 KiB holds ~400).
pub const POLICY_STATEMENTS_MAX_COUNT: usize = 256;

/// Key management (`kms::keyring`): a master key's name is 1 to this many bytes of ASCII
/// letters, digits, `-` and `_` (it is also the last part of its ARN).
pub const KMS_KEY_NAME_MAX_BYTES: usize = 64;
/// The keyring file is read whole; a larger file is refused as damaged (a key version is
/// about 150 bytes, so this holds some 100,000 versions).
pub const KEYRING_FILE_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// A running gateway checks the keyring file for changes (a key created, rotated, disabled
/// by `granary kms key ...` or another gateway) at most this often; an unknown key or
/// version is re-read at once.
pub const KEYRING_RECHECK_MILLIS: u64 = 1_000;
/// Access keys whose unsealed secret a gateway keeps in memory (`s3::auth`).
pub const UNSEALED_SECRETS_CACHE_MAX_COUNT: usize = 10_000;

/// Metrics: queue depths, live gateways and the search index's document count are read
/// from the stores at most this often; scrapes in between reuse them (a scrape stays cheap
/// however often Prometheus asks).
pub const METRICS_STORE_COUNTS_REFRESH_SECS: u64 = 30;
/// Metrics: a label value (operation, error code) longer than this is counted as `other`.
pub const METRICS_LABEL_VALUE_MAX_BYTES: usize = 64;
/// Metrics: buckets whose usage gets its own series (`bucket` label), the first ones by
/// name; the usage of the rest is one `buckets_unlisted_*` aggregate. Reading them is one
/// range read of at most `(this + 1) * 2 * USAGE_COUNTER_SHARDS` rows.
pub const METRICS_BUCKETS_LISTED_MAX: usize = 100;
/// Access log: lines waiting for the writer; beyond this, lines are dropped (and counted)
/// rather than slowing requests down.
pub const ACCESS_LOG_QUEUE_MAX_LINES: usize = 65_536;
/// Access log: the writer writes and flushes at most this many lines at a time.
pub const ACCESS_LOG_BATCH_MAX_LINES: usize = 1024;
/// Access log: a request's User-Agent is cut to this many bytes.
pub const ACCESS_LOG_USER_AGENT_MAX_BYTES: usize = 256;

/// Backup (`backup`): chunks copied at once, each read and verified (at most a 1 MiB chunk)
/// then written and fsynced: memory stays within about this many MiB.
pub const BACKUP_CHUNK_COPIES_IN_FLIGHT: usize = 8;
/// Backup, restore and verify name at most this many missing or corrupt chunks (all are
/// counted).
pub const BACKUP_PROBLEMS_LISTED_MAX: usize = 100;
/// Restore: keys and values written per transaction, a tenth of FoundationDB's 10 MB so each
/// commit is also far inside the 5 s limit.
pub const RESTORE_BATCH_MAX_BYTES: usize = 1_000_000;
/// Export (`backup::export`): progress is reported at most this often.
pub const EXPORT_PROGRESS_INTERVAL_MILLIS: u64 = 500;
/// Export: object versions the report names as skipped (SSE-C, gone meanwhile); all are counted.
pub const EXPORT_SKIPPED_LISTED_MAX: usize = 1000;
/// Export into a tarball: chunks of one object queued between the reader and the tar writer
/// (a blocking thread); the reader waits when they are full.
pub const EXPORT_TAR_QUEUE_CHUNKS: usize = 4;
/// Export to an S3 endpoint: objects up to this size are one PUT, larger ones multipart
/// uploads in parts of this size (one part in memory at a time); 8 MiB as the AWS CLI.
pub const EXPORT_S3_PART_BYTES: u64 = 8 * 1024 * 1024;
/// S3's most parts in one multipart upload: an object that would need more gets parts of
/// `ceil(size / this)` bytes instead.
pub const EXPORT_S3_PARTS_MAX: u64 = 10_000;
/// S3's longest object key, in bytes: a key whose path under the prefix is longer is written
/// at its hashed path (`_granary/<bucket>/keys/...`).
pub const EXPORT_S3_KEY_MAX_BYTES: usize = 1024;
/// One request of an export to S3 (a part of up to `EXPORT_S3_PART_BYTES` sent, the answer
/// read) that takes longer is retried, as its other passing failures are
/// (`CHUNK_REMOTE_ATTEMPTS_MAX` attempts, `CHUNK_REMOTE_BACKOFF_*`).
pub const EXPORT_S3_ATTEMPT_TIMEOUT_SECS: u64 = 120;

/// Upload rules (`meta::upload_rules`): entries per list (allowed or denied extensions or
/// content types) of one bucket.
pub const UPLOAD_RULES_ENTRIES_MAX_COUNT: usize = 100;
/// Upload rules: one extension or content-type pattern is at most this many bytes (RFC 6838
/// names are at most 127 characters).
pub const UPLOAD_RULES_ENTRY_MAX_BYTES: usize = 127;
/// Upload rules (`screening`): an object's type is sniffed from at most this many of its
/// first bytes, taken as they stream by (never the whole object).
pub const SNIFF_HEAD_MAX_BYTES: usize = 8 * 1024;
/// Malware scan (`screening`): one scan (connect to clamd, stream the object, wait for the
/// verdict) that takes longer fails (and is retried).
pub const SCAN_TIMEOUT_SECS: u64 = 120;
/// Malware scan: objects larger than this are not scanned (tagged `granary-scan=error`):
/// clamd's default StreamMaxLength (25 MiB), past which it answers INSTREAM with an error.
pub const SCAN_STREAM_MAX_BYTES: u64 = 25 * 1024 * 1024;
/// Malware scan: bytes per INSTREAM chunk sent to clamd.
pub const SCAN_CHUNK_BYTES: usize = 64 * 1024;
/// Malware scan, refuse mode: objects up to this many bytes are scanned before a PUT is
/// acknowledged unless `scan-rules set --max-bytes` says otherwise.
pub const SCAN_SYNC_DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Malware scan, refuse mode: the largest `--max-bytes` (a scan cannot take more).
pub const SCAN_SYNC_MAX_BYTES: u64 = SCAN_STREAM_MAX_BYTES;
/// Malware scan, refuse mode: request-body pieces waiting for clamd; the upload waits
/// beyond them (back-pressure rather than buffering).
pub const SCAN_SYNC_QUEUE_PIECES: usize = 4;
/// Scan queue (`meta::scan_queue`): rows read per claim, past jobs claimed by other
/// scanners or waiting for a retry.
pub const SCAN_QUEUE_READ_MAX_ROWS: usize = 1000;
/// Scan queue: scans one gateway runs at once (each claims its job for the lease).
pub const SCANS_IN_FLIGHT_MAX: usize = 2;
/// Scan queue: a claimed job is hidden from other scanners this long (two scan timeouts
/// and some): a scanner that died leaves it to be claimed again after it.
pub const SCAN_CLAIM_LEASE_MILLIS: i64 = 300_000;
/// Scan queue: an idle scanner looks for jobs this often.
pub const SCAN_QUEUE_IDLE_POLL_MILLIS: u64 = 250;
/// Scan queue: a scan that failed for a passing reason (clamd unreachable, a timeout) is
/// tried this many times in all before the object is tagged `granary-scan=error`.
pub const SCAN_ATTEMPTS_MAX: u32 = 5;
/// Scan queue: a failed scan is retried after this many milliseconds times its attempts.
pub const SCAN_RETRY_DELAY_MILLIS: i64 = 5_000;
/// Upload rules: a `/_granary/upload-rules` PUT body (JSON) is at most this many bytes.
pub const UPLOAD_RULES_DOCUMENT_MAX_BYTES: usize = 64 * 1024;
