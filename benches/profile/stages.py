#!/usr/bin/env python3
"""Per-stage CPU cost of a request, from a profile's folded stacks (inferno-collapse-perf).

    benches/profile/stages.py FOLDED CPU_SECONDS REQUESTS

Each sample goes to the stage of the deepest frame on its stack that names one (so SHA-256
under the signature check counts as "auth", under the audit chain as "audit"); samples whose
stack names none go to "runtime and other". A stage's share of the samples times the gateway's
CPU seconds per request (measured by the caller from /proc around the same load) is its cost
in microseconds per request. cpu-clock samples count on-CPU time only: a request waiting for
the journal fsync costs nothing while it sleeps; the kernel's work inside fsync counts.
"""
import collections
import re
import sys

# (stage, pattern on a frame), most specific first within a stack walk is not needed: the
# deepest matching frame wins. Patterns match demangled Rust paths as perf prints them.
STAGES = [
    ("auth: SigV4 and key lookup", r"s3s::sig_v4|s3s::auth|granary::s3::auth|granary::credentials|hmac::"),
    ("access decision and request rules", r"granary::s3::access|granary::s3::authorize|granary::s3::request_rules|granary::s3::rate_limit|granary::policy"),
    ("body: read, MD5, checksum", r"granary::engine::ingest|md5::|md_5|crc_fast|granary::checksum|granary::s3::request_body"),
    ("metadata transaction: records and encoding", r"granary::meta::objects|granary::meta::version_steps|granary::meta::object_record|granary::meta::codec|postcard::|granary::keys::"),
    ("metadata store: fjall commit", r"granary::kv::fjall_backend|fjall::|lsm_tree::|granary::kv::transact"),
    ("journal fsync (group commit)", r"GroupSync|persist|fdatasync|fsync"),
    ("audit entry", r"granary::audit::|granary::meta::audit_in|granary::edge::audit_sink"),
    ("outbox event and depth counters", r"granary::meta::outbox|granary::meta::event|granary::meta::notifications"),
    ("usage, quota and activity counters", r"granary::meta::usage|granary::meta::quota|granary::meta::gateways|granary::metrics"),
    ("relay and search indexer", r"granary::events::|granary::search::|tantivy"),
    ("edge: request ids, access log, observe", r"granary::edge::"),
    ("HTTP and XML (hyper, s3s dispatch)", r"hyper::|s3s::|h2::|http::|quick_xml"),
    ("metadata cache", r"granary::meta::cache|quick_cache"),
]
COMPILED = [(name, re.compile(p)) for name, p in STAGES]
OTHER = "runtime and other (tokio, allocator, kernel outside a stage)"


def stage_of(stack):
    found = OTHER
    for frame in stack.split(";"):
        for name, pattern in COMPILED:
            if pattern.search(frame):
                found = name
                break
    return found


def main():
    folded, cpu_seconds, requests = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    per_stage = collections.Counter()
    total = 0
    for line in open(folded):
        stack, n = line.rstrip("\n").rsplit(" ", 1)
        per_stage[stage_of(stack)] += int(n)
        total += int(n)
    us_per_request = 1e6 * cpu_seconds / max(requests, 1)
    print(f"| stage | share of gateway CPU | µs per request |")
    print(f"|---|---:|---:|")
    for name, n in per_stage.most_common():
        print(f"| {name} | {100 * n / total:.1f}% | {us_per_request * n / total:.1f} |")
    print(f"| **all** ({total} samples, {cpu_seconds:.2f} CPU s, {requests} requests) | 100% | {us_per_request:.1f} |")


if __name__ == "__main__":
    main()
