//! Prometheus metrics, one process-wide set (as TEI and Triton do): requests by route, model and
//! status; refusals; time in queue and in each stage; batch sizes; queue depth and models
//! loaded (read from the engines at scrape time). Rendered in the text format at `/metrics`.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_seconds: HistogramVec,
    rejected: IntCounterVec,
    stage_seconds: HistogramVec,
    batch_size: HistogramVec,
    pub queue_depth: IntGaugeVec,
    pub model_ready: IntGaugeVec,
    pub models_loaded: IntGauge,
    memory_budget: IntGauge,
    memory_in_use: IntGauge,
    memory_refused: IntCounterVec,
    connections: IntGauge,
    connections_refused: IntCounterVec,
}

/// Latency buckets from 1 ms to 60 s (summaries run for seconds, masks for milliseconds).
const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new_custom(Some("candlelit".into()), None).expect("registry");
        let requests = IntCounterVec::new(
            Opts::new(
                "requests_total",
                "HTTP requests answered, by route, model and status",
            ),
            &["route", "model", "status"],
        )
        .expect("metric");
        // From 100 us: a refusal is answered in microseconds, and whether it still is under load
        // is the point of refusing before the body is read.
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "request_duration_seconds",
                "Time from a request's head being read to its answer's head, by route and status",
            )
            .buckets([&[0.0001, 0.00025, 0.0005][..], SECONDS].concat()),
            &["route", "status"],
        )
        .expect("metric");
        let rejected = IntCounterVec::new(
            Opts::new(
                "rejected_total",
                "Jobs not run: queue_full (429), deadline (504), cancelled (client went away)",
            ),
            &["model", "reason"],
        )
        .expect("metric");
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new(
                "stage_duration_seconds",
                "Time per request in each stage: queue, decode, preprocess, inference, postprocess",
            )
            .buckets(SECONDS.to_vec()),
            &["model", "stage"],
        )
        .expect("metric");
        let batch_size = HistogramVec::new(
            HistogramOpts::new("batch_size", "Requests run together in one model call")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0]),
            &["model"],
        )
        .expect("metric");
        let queue_depth = IntGaugeVec::new(
            Opts::new("queue_depth", "Requests waiting for a worker, by model"),
            &["model"],
        )
        .expect("metric");
        let model_ready = IntGaugeVec::new(
            Opts::new(
                "model_ready",
                "1 when the model is loaded, warmed up and serving",
            ),
            &["model"],
        )
        .expect("metric");
        let models_loaded =
            IntGauge::new("models_loaded", "Models ready to serve").expect("metric");
        let memory_budget = IntGauge::new(
            "memory_budget_bytes",
            "The memory budget for request data (--memory-budget)",
        )
        .expect("metric");
        let memory_in_use = IntGauge::new(
            "memory_in_use_bytes",
            "Bytes of the memory budget reserved by requests now (bodies, fetches, pixels, answers)",
        )
        .expect("metric");
        let memory_refused = IntCounterVec::new(
            Opts::new(
                "memory_refused_total",
                "Requests refused because the memory budget could not hold them, by stage",
            ),
            &["stage"],
        )
        .expect("metric");
        let connections =
            IntGauge::new("connections_open", "HTTP connections open now").expect("metric");
        let connections_refused = IntCounterVec::new(
            Opts::new(
                "client_refusals_total",
                "Requests and connections refused by the client guards: max_connections, slow_body, rate_limited",
            ),
            &["reason"],
        )
        .expect("metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(request_seconds.clone()),
            Box::new(memory_budget.clone()),
            Box::new(memory_in_use.clone()),
            Box::new(memory_refused.clone()),
            Box::new(connections.clone()),
            Box::new(connections_refused.clone()),
            Box::new(rejected.clone()),
            Box::new(stage_seconds.clone()),
            Box::new(batch_size.clone()),
            Box::new(queue_depth.clone()),
            Box::new(model_ready.clone()),
            Box::new(models_loaded.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Self {
            registry,
            requests,
            request_seconds,
            rejected,
            stage_seconds,
            batch_size,
            queue_depth,
            model_ready,
            models_loaded,
            memory_budget,
            memory_in_use,
            memory_refused,
            connections,
            connections_refused,
        }
    }

    pub fn memory_budget(&self, bytes: u64) {
        self.memory_budget.set(bytes as i64);
    }

    pub fn memory_used(&self, bytes: u64) {
        self.memory_in_use.set(bytes as i64);
    }

    pub fn memory_refused(&self, stage: &str) {
        self.memory_refused.with_label_values(&[stage]).inc();
    }

    pub fn connection_opened(&self) {
        self.connections.inc();
    }

    pub fn connection_closed(&self) {
        self.connections.dec();
    }

    pub fn connection_refused(&self, reason: &str) {
        self.connections_refused.with_label_values(&[reason]).inc();
    }

    pub fn request(&self, route: &str, model: &str, status: u16, took: Duration) {
        let status = status.to_string();
        self.requests
            .with_label_values(&[route, model, &status])
            .inc();
        self.request_seconds
            .with_label_values(&[route, &status])
            .observe(took.as_secs_f64());
    }

    pub fn rejected(&self, model: &str, reason: &str) {
        self.rejected.with_label_values(&[model, reason]).inc();
    }

    /// How many jobs of `model` were not run for `reason` (for tests and the health page).
    pub fn rejected_count(&self, model: &str, reason: &str) -> u64 {
        self.rejected.with_label_values(&[model, reason]).get()
    }

    pub fn observe_queue(&self, model: &str, waited: Duration) {
        self.stage(model, "queue", waited.as_secs_f64());
    }

    pub fn observe_batch(&self, model: &str, size: usize) {
        self.batch_size
            .with_label_values(&[model])
            .observe(size as f64);
    }

    pub fn stage(&self, model: &str, stage: &str, seconds: f64) {
        self.stage_seconds
            .with_label_values(&[model, stage])
            .observe(seconds);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }
}
