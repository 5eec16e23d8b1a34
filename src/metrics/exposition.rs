//! The two exposition formats Prometheus reads, chosen by the scrape's `Accept` header:
//! OpenMetrics 1.0 (what `prometheus-client` encodes) and the Prometheus text format 0.0.4
//! (what `text/plain` and most other tools expect; promtool's `check metrics` lints it).
//!
//! The text format is made from the OpenMetrics text (`to_text_format`), line by line: the
//! two differ only in a few places, listed there, and none of them needs the values parsed.

/// Which exposition format a scrape gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    /// The Prometheus text format, version 0.0.4.
    Text,
}

impl Format {
    /// OpenMetrics when the `Accept` header asks for `application/openmetrics-text` at least
    /// as much as for `text/plain` (or `*/*`), else the text format (also without a header).
    /// Prometheus itself lists OpenMetrics first, so it gets OpenMetrics.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let (mut open_metrics, mut text) = (0.0f32, 0.0f32);
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => open_metrics = open_metrics.max(quality),
                "text/plain" | "text/*" | "*/*" => text = text.max(quality),
                _ => {}
            }
        }
        if open_metrics > 0.0 && open_metrics >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// The OpenMetrics text `prometheus-client` wrote, in the Prometheus text format 0.0.4:
/// - no `# EOF` and no `# UNIT` lines (the text format has neither; the unit stays in the
///   name);
/// - a counter family is named by its samples' name, with `_total` (`# TYPE x counter` and
///   `x_total 3` become `# TYPE x_total counter` and `x_total 3`), and its `_created`
///   samples are left out (the text format has no place for them);
/// - `info` families become gauges named `x_info`, `unknown` ones `untyped`;
/// - exemplars (` # {...} v` after a sample) are left out.
///
/// Timestamps on samples are not converted (OpenMetrics counts seconds, the text format
/// milliseconds): Granary writes none.
pub fn to_text_format(open_metrics: &str) -> String {
    let mut out = String::with_capacity(open_metrics.len());
    // The family being written: its OpenMetrics name and type.
    let mut family: (String, String) = (String::new(), String::new());
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            family = (name.to_owned(), kind.to_owned());
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "unknown" => (name.to_owned(), "untyped"),
                other => (name.to_owned(), other),
            };
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            // HELP comes before TYPE: the family's type is not known yet, so the name is
            // settled by the TYPE line that follows (see `fix_help_names`).
            out.push_str("# HELP ");
            out.push_str(rest);
            out.push('\n');
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, _) = family_sample(line);
        if family.1 == "counter" && name == format!("{}_created", family.0) {
            continue;
        }
        // An exemplar follows the value after " # "; label values may hold " # " too, so
        // only one after the label set counts.
        out.push_str(without_exemplar(line));
        out.push('\n');
    }
    fix_help_names(&out)
}

/// The sample's metric name and the rest of the line.
fn family_sample(line: &str) -> (&str, &str) {
    let end = line.find(['{', ' ']).unwrap_or(line.len());
    line.split_at(end)
}

/// `line` without a trailing exemplar.
fn without_exemplar(line: &str) -> &str {
    let (name, _) = family_sample(line);
    let after_labels = if line[name.len()..].starts_with('{') { closing_brace(line).map_or(line.len(), |i| i + 1) } else { name.len() };
    match line[after_labels..].find(" # ") {
        Some(i) => &line[..after_labels + i],
        None => line,
    }
}

/// The index of the `}` that closes the label set, skipping quoted label values (which may
/// hold `}` and escaped quotes).
fn closing_brace(line: &str) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Gives each `# HELP` line the name of the `# TYPE` line that follows it (they differ for
/// counters and info metrics once converted).
fn fix_help_names(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len() + 64);
    for (i, line) in lines.iter().enumerate() {
        if let (Some(help), Some(next)) = (line.strip_prefix("# HELP "), lines.get(i + 1).and_then(|l| l.strip_prefix("# TYPE "))) {
            let (old_name, text) = help.split_once(' ').unwrap_or((help, ""));
            let new_name = next.split_once(' ').map_or(next, |(n, _)| n);
            if new_name.starts_with(old_name) {
                out.push_str(&format!("# HELP {new_name} {text}\n"));
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS_DEFAULT_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
         text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn accept_headers_choose_the_format() {
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
        assert_eq!(Format::negotiate(Some("text/plain; version=0.0.4")), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(Format::negotiate(Some("application/openmetrics-text")), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("Application/OpenMetrics-Text; version=1.0.0; charset=utf-8")), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some(PROMETHEUS_DEFAULT_ACCEPT)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("application/openmetrics-text;q=0.2, text/plain")), Format::Text);
        assert_eq!(Format::negotiate(Some("application/openmetrics-text;q=0")), Format::Text);
        assert_eq!(Format::negotiate(Some("garbage;;q=x,,")), Format::Text);
    }

    #[test]
    fn open_metrics_becomes_the_text_format() {
        let om = "# HELP granary_requests Requests.\n\
                  # TYPE granary_requests counter\n\
                  granary_requests_total{op=\"Get}Object # x\",status=\"200\"} 3\n\
                  granary_requests_created{op=\"GetObject\"} 1700000000.0\n\
                  # HELP granary_sent_bytes Bytes sent.\n\
                  # TYPE granary_sent_bytes counter\n\
                  # UNIT granary_sent_bytes bytes\n\
                  granary_sent_bytes_total 10 # {trace=\"a\"} 1.0\n\
                  # HELP granary_open Open.\n\
                  # TYPE granary_open gauge\n\
                  granary_open 2\n\
                  # HELP granary_latency_seconds Latency.\n\
                  # TYPE granary_latency_seconds histogram\n\
                  # UNIT granary_latency_seconds seconds\n\
                  granary_latency_seconds_sum 0.5\n\
                  granary_latency_seconds_count 1\n\
                  granary_latency_seconds_bucket{le=\"+Inf\"} 1\n\
                  # HELP granary_build Build.\n\
                  # TYPE granary_build info\n\
                  granary_build_info{version=\"1\"} 1\n\
                  # EOF\n";
        let expected = "# HELP granary_requests_total Requests.\n\
                        # TYPE granary_requests_total counter\n\
                        granary_requests_total{op=\"Get}Object # x\",status=\"200\"} 3\n\
                        # HELP granary_sent_bytes_total Bytes sent.\n\
                        # TYPE granary_sent_bytes_total counter\n\
                        granary_sent_bytes_total 10\n\
                        # HELP granary_open Open.\n\
                        # TYPE granary_open gauge\n\
                        granary_open 2\n\
                        # HELP granary_latency_seconds Latency.\n\
                        # TYPE granary_latency_seconds histogram\n\
                        granary_latency_seconds_sum 0.5\n\
                        granary_latency_seconds_count 1\n\
                        granary_latency_seconds_bucket{le=\"+Inf\"} 1\n\
                        # HELP granary_build_info Build.\n\
                        # TYPE granary_build_info gauge\n\
                        granary_build_info{version=\"1\"} 1\n";
        assert_eq!(to_text_format(om), expected);
    }
}
