//! Counters for `/metrics`, rendered in the Prometheus text exposition format (version 0.0.4).
//!
//! Labels come from small fixed sets (route names, HTTP status codes, OCSP response statuses),
//! so the number of series stays bounded whatever clients send.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counters by label. Counting an existing label takes the shared lock and one atomic add, so
/// request threads do not queue behind each other; only a label's first use takes the
/// exclusive lock.
#[derive(Debug)]
struct Labelled<K: Ord + Copy>(RwLock<BTreeMap<K, AtomicU64>>);

impl<K: Ord + Copy> Default for Labelled<K> {
    fn default() -> Labelled<K> {
        Labelled(RwLock::new(BTreeMap::new()))
    }
}

impl<K: Ord + Copy> Labelled<K> {
    fn add(&self, key: K) {
        // Counters stay usable if another thread panicked while holding the lock.
        let counters = self.0.read().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = counters.get(&key) {
            c.fetch_add(1, Ordering::Relaxed);
            return;
        }
        drop(counters);
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, key: K) -> u64 {
        let counters = self.0.read().unwrap_or_else(|p| p.into_inner());
        counters.get(&key).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Every label with its count, in label order.
    fn snapshot(&self) -> Vec<(K, u64)> {
        let counters = self.0.read().unwrap_or_else(|p| p.into_inner());
        counters
            .iter()
            .map(|(k, c)| (*k, c.load(Ordering::Relaxed)))
            .collect()
    }
}

/// Upper bounds (seconds) of the request-latency histogram buckets: 100 µs to 10 s, the range
/// between a cached OCSP answer and a request that runs into the request timeout.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0,
];

/// One route's latency histogram: a count per bucket (not cumulative), the sum in
/// microseconds and the count.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|le| secs <= *le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// More metric families, rendered after the built-in ones (e.g. `ocsp-responder`'s release
/// age and sequence). Called on every scrape: it must be cheap and must not block.
pub trait MetricsSource: Send + Sync + 'static {
    /// Appends complete families (`# HELP`, `# TYPE` and samples) in the Prometheus text format.
    fn render(&self, out: &mut String);
}

/// The registered [`MetricsSource`]s.
#[derive(Default)]
struct Sources(RwLock<Vec<std::sync::Arc<dyn MetricsSource>>>);

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.read().map_or(0, |v| v.len());
        f.debug_struct("Sources").field("count", &n).finish()
    }
}

/// Request, cache and load counters shared by the router and [`crate::CachingOcsp`].
#[derive(Debug, Default)]
pub struct Metrics {
    sources: Sources,
    requests: Labelled<(&'static str, u16)>,
    latency: RwLock<BTreeMap<&'static str, Histogram>>,
    ocsp_statuses: Labelled<&'static str>,
    in_flight: AtomicI64,
    rejected: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    cache_bypass: AtomicU64,
}

impl Metrics {
    /// Empty counters.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Adds families that `source` renders after the built-in ones on every scrape.
    pub fn add_source(&self, source: std::sync::Arc<dyn MetricsSource>) {
        self.sources
            .0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(source);
    }

    /// Counts one answered HTTP request on `route` (a fixed route name) with `status`.
    pub fn record_request(&self, route: &'static str, status: u16) {
        self.requests.add((route, status));
    }

    /// Records how long one request on `route` took (the latency histogram).
    pub fn record_latency(&self, route: &'static str, elapsed: std::time::Duration) {
        let histograms = self.latency.read().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = histograms.get(route) {
            h.observe(elapsed);
            return;
        }
        drop(histograms);
        self.latency
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(route)
            .or_default()
            .observe(elapsed);
    }

    /// Counts one OCSP response by responseStatus name (RFC 6960 §4.2.1).
    pub fn record_ocsp_status(&self, status: &'static str) {
        self.ocsp_statuses.add(status);
    }

    /// Counts a request turned away with 503 because the concurrency limit was reached.
    pub fn record_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// A cacheable OCSP request answered from the response cache.
    pub fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// A cacheable OCSP request that had to be signed.
    pub fn cache_miss(&self) {
        self.cache_misses.fetch_add(1, Ordering::Relaxed);
    }

    /// An OCSP request that cannot use the cache (nonce, several CertIDs).
    pub fn cache_bypass(&self) {
        self.cache_bypass.fetch_add(1, Ordering::Relaxed);
    }

    /// Cache hits so far.
    pub fn cache_hits(&self) -> u64 {
        self.cache_hits.load(Ordering::Relaxed)
    }

    /// Cache misses so far.
    pub fn cache_misses(&self) -> u64 {
        self.cache_misses.load(Ordering::Relaxed)
    }

    /// Requests being handled now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Requests answered so far on `route` with `status`.
    pub fn requests(&self, route: &'static str, status: u16) -> u64 {
        self.requests.get((route, status))
    }

    /// Marks a request as started; the returned guard marks it finished when dropped (also
    /// when the client goes away and the handler is cancelled).
    pub(crate) fn start_request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP lgpki_http_requests_total HTTP requests answered, by route and status code.\n\
             # TYPE lgpki_http_requests_total counter"
        );
        for ((route, status), n) in self.requests.snapshot() {
            let _ = writeln!(
                out,
                "lgpki_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP lgpki_http_request_duration_seconds Time to answer an HTTP request, by route.\n\
             # TYPE lgpki_http_request_duration_seconds histogram"
        );
        for (route, h) in self
            .latency
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let mut cumulative = 0;
            for (le, n) in LATENCY_BUCKETS.iter().zip(&h.buckets) {
                cumulative += n.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "lgpki_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "lgpki_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}\n\
                 lgpki_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n\
                 lgpki_http_request_duration_seconds_count{{route=\"{route}\"}} {count}",
                h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
        }
        let _ = writeln!(
            out,
            "# HELP lgpki_http_requests_in_flight HTTP requests being handled.\n\
             # TYPE lgpki_http_requests_in_flight gauge\n\
             lgpki_http_requests_in_flight {}",
            self.in_flight()
        );
        let _ = writeln!(
            out,
            "# HELP lgpki_http_requests_rejected_total Requests refused with 503 at the concurrency limit.\n\
             # TYPE lgpki_http_requests_rejected_total counter\n\
             lgpki_http_requests_rejected_total {}",
            self.rejected.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP lgpki_ocsp_responses_total OCSP responses sent, by responseStatus.\n\
             # TYPE lgpki_ocsp_responses_total counter"
        );
        for (status, n) in self.ocsp_statuses.snapshot() {
            let _ = writeln!(out, "lgpki_ocsp_responses_total{{status=\"{status}\"}} {n}");
        }
        for (name, help, v) in [
            (
                "lgpki_ocsp_cache_hits_total",
                "Cacheable OCSP requests answered from the response cache.",
                &self.cache_hits,
            ),
            (
                "lgpki_ocsp_cache_misses_total",
                "Cacheable OCSP requests that were signed.",
                &self.cache_misses,
            ),
            (
                "lgpki_ocsp_cache_bypass_total",
                "OCSP requests that cannot be cached (nonce or several CertIDs).",
                &self.cache_bypass,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        for source in self
            .sources
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            source.render(&mut out);
        }
        out
    }
}

/// An in-flight request; decrements the gauge when dropped.
pub(crate) struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::new();
        m.record_request("ocsp_post", 200);
        m.record_request("ocsp_post", 200);
        m.record_request("crl", 404);
        m.record_ocsp_status("successful");
        m.cache_hit();
        m.cache_miss();
        m.record_latency("ocsp_post", std::time::Duration::from_micros(300));
        m.record_latency("ocsp_post", std::time::Duration::from_secs(30));
        {
            let _g = m.start_request();
            assert!(m.render().contains("\nlgpki_http_requests_in_flight 1\n"));
        }
        let text = m.render();
        assert!(text.contains("lgpki_http_requests_total{route=\"ocsp_post\",status=\"200\"} 2\n"));
        assert!(text.contains("lgpki_http_requests_total{route=\"crl\",status=\"404\"} 1\n"));
        assert!(text.contains("lgpki_ocsp_responses_total{status=\"successful\"} 1\n"));
        assert!(text.contains("lgpki_ocsp_cache_hits_total 1\n"));
        assert!(text.contains("lgpki_ocsp_cache_misses_total 1\n"));
        assert!(text.contains("\nlgpki_http_requests_in_flight 0\n"));
        // Cumulative buckets: 300 µs is in le=0.0005 and above; 30 s only in +Inf.
        assert!(text.contains(
            "lgpki_http_request_duration_seconds_bucket{route=\"ocsp_post\",le=\"0.00025\"} 0\n"
        ));
        assert!(text.contains(
            "lgpki_http_request_duration_seconds_bucket{route=\"ocsp_post\",le=\"0.0005\"} 1\n"
        ));
        assert!(text.contains(
            "lgpki_http_request_duration_seconds_bucket{route=\"ocsp_post\",le=\"10\"} 1\n"
        ));
        assert!(text.contains(
            "lgpki_http_request_duration_seconds_bucket{route=\"ocsp_post\",le=\"+Inf\"} 2\n"
        ));
        assert!(
            text.contains("lgpki_http_request_duration_seconds_count{route=\"ocsp_post\"} 2\n")
        );
        // Every sample line belongs to a declared metric family.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let name = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|base| text.contains(&format!("# TYPE {base} histogram")))
                .unwrap_or(name);
            assert!(text.contains(&format!("# TYPE {name} ")), "{line}");
        }
    }
}
