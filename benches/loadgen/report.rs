//! What a phase measured: latencies per operation type and overall, errors, and the load
//! generator's own CPU time, as JSON (`--json`) or one text line per figure.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// Latency bounds in microseconds: 1 us to 10 min, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram")
}

/// Latencies (us) and errors by operation type ("get", "put", ...).
#[derive(Default)]
pub struct Stats {
    pub by_op: BTreeMap<&'static str, (Histogram<u64>, u64)>,
    pub bytes: u64,
}

impl Stats {
    pub fn ok(&mut self, op: &'static str, micros: u64, bytes: u64) {
        let _ = self.by_op.entry(op).or_insert_with(|| (histogram(), 0)).0.record(micros.max(1));
        self.bytes += bytes;
    }

    pub fn error(&mut self, op: &'static str) -> u64 {
        let entry = self.by_op.entry(op).or_insert_with(|| (histogram(), 0));
        entry.1 += 1;
        entry.1
    }

    pub fn merge(&mut self, other: Stats) {
        for (op, (h, errors)) in other.by_op {
            let entry = self.by_op.entry(op).or_insert_with(|| (histogram(), 0));
            entry.0.add(&h).expect("same bounds");
            entry.1 += errors;
        }
        self.bytes += other.bytes;
    }
}

/// This process's CPU time (user + system, every thread) in seconds, from /proc/self/stat
/// (fields 14 and 15, in clock ticks: USER_HZ, 100 on Linux's mainstream architectures).
pub fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3, the state.
    let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn latency_json(h: &Histogram<u64>) -> serde_json::Value {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    serde_json::json!({ "p50": ms(0.5), "p99": ms(0.99), "p999": ms(0.999) })
}

/// The phase's JSON report: totals, latencies overall and per operation, the client's CPU.
pub fn json(header: serde_json::Value, stats: &Stats, secs: f64, cpu_secs: f64) -> serde_json::Value {
    let mut overall = histogram();
    let mut by_op = serde_json::Map::new();
    let mut errors = 0;
    for (op, (h, e)) in &stats.by_op {
        overall.add(h).expect("same bounds");
        errors += e;
        by_op.insert(
            (*op).into(),
            serde_json::json!({ "ops": h.len(), "errors": e, "ops_per_sec": h.len() as f64 / secs, "latency_ms": latency_json(h) }),
        );
    }
    let ops = overall.len();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut report = header;
    let extra = serde_json::json!({
        "seconds": secs, "ops": ops, "errors": errors,
        "ops_per_sec": ops as f64 / secs,
        "mib_per_sec": stats.bytes as f64 / secs / (1 << 20) as f64,
        "latency_ms": latency_json(&overall),
        "by_op": by_op,
        // The client's share of the machine: 1.0 = every core busy with the load generator.
        "cpu": { "seconds": cpu_secs, "cores": cores, "share_of_machine": cpu_secs / secs / cores as f64,
                 "us_per_op": if ops > 0 { cpu_secs * 1e6 / ops as f64 } else { 0.0 } },
    });
    if let (Some(r), serde_json::Value::Object(e)) = (report.as_object_mut(), extra) {
        r.extend(e);
    }
    report
}

/// The report as text: one line for the phase, one per operation type when there are several.
pub fn text(r: &serde_json::Value) -> String {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    let lat = |l: &serde_json::Value| format!("p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms", f(&l["p50"]), f(&l["p99"]), f(&l["p999"]));
    let mut out = format!(
        "{} {} x{}: {:.0} ops/s, {:.1} MiB/s, {}, {} errors ({} ops in {:.1} s); loadgen CPU {:.1}% of {} cores ({:.0} us/op)",
        r["phase"].as_str().unwrap_or(""),
        r["size_bytes"],
        r["concurrency"],
        f(&r["ops_per_sec"]),
        f(&r["mib_per_sec"]),
        lat(&r["latency_ms"]),
        r["errors"],
        r["ops"],
        f(&r["seconds"]),
        f(&r["cpu"]["share_of_machine"]) * 100.0,
        r["cpu"]["cores"],
        f(&r["cpu"]["us_per_op"]),
    );
    if let Some(by_op) = r["by_op"].as_object().filter(|m| m.len() > 1) {
        for (op, v) in by_op {
            out += &format!(
                "\n  {op:<6} {:>8.0} ops/s, {}, {} errors ({} ops)",
                f(&v["ops_per_sec"]),
                lat(&v["latency_ms"]),
                v["errors"],
                v["ops"]
            );
        }
    }
    out
}
