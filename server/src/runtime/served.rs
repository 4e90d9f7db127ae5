//! The models this server serves: one slot per catalog model with its state (loading, warming
//! up, ready, missing, ...) and, once ready, its engine. Loading runs in the background after
//! the server starts listening, so `/healthz` answers at once and `/readyz` says 503 until every
//! enabled model has loaded and run one warm-up inference.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use image::RgbImage;
use models::summarize::{SummarizeRequest, Summary};
use models::{
    Catalog, Classification, Classifier, Detections, Detector, Model, ModelSpec, Segmentation,
    Segmenter, ServingState, Summarizer, Task,
};

use crate::error::ApiError;
use crate::metrics::METRICS;
use crate::runtime::engine::{BatchFn, Engine, EngineOptions};

/// A summarization job: the request and where its tokens go as they decode (`false` stops).
pub struct SummarizeJob {
    pub req: SummarizeRequest,
    pub on_token: Box<dyn FnMut(&str) -> bool + Send>,
}

pub type SegmentEngine = Engine<Arc<RgbImage>, Segmentation>;
/// Detection inputs carry their own minimum score.
pub type DetectEngine = Engine<(Arc<RgbImage>, f32), Detections>;
pub type ClassifyEngine = Engine<Arc<RgbImage>, Classification>;
pub type SummarizeEngine = Engine<SummarizeJob, Summary>;

/// A ready model with the engine that runs it.
#[derive(Clone)]
pub enum Served {
    Segmenter(Arc<dyn Segmenter>, SegmentEngine),
    Detector(Arc<dyn Detector>, DetectEngine),
    Classifier(Arc<dyn Classifier>, ClassifyEngine),
    Summarizer(Arc<dyn Summarizer>, SummarizeEngine),
}

impl Served {
    fn queue_depth(&self) -> usize {
        match self {
            Served::Segmenter(_, e) => e.queue_depth(),
            Served::Detector(_, e) => e.queue_depth(),
            Served::Classifier(_, e) => e.queue_depth(),
            Served::Summarizer(_, e) => e.queue_depth(),
        }
    }

    /// See [`crate::runtime::engine::Engine::reserve`].
    pub fn reserve(&self) -> Result<crate::runtime::engine::Place, ApiError> {
        match self {
            Served::Segmenter(_, e) => e.reserve(),
            Served::Detector(_, e) => e.reserve(),
            Served::Classifier(_, e) => e.reserve(),
            Served::Summarizer(_, e) => e.reserve(),
        }
    }

    /// See [`crate::runtime::engine::Engine::is_full`].
    pub fn is_full(&self) -> bool {
        match self {
            Served::Segmenter(_, e) => e.is_full(),
            Served::Detector(_, e) => e.is_full(),
            Served::Classifier(_, e) => e.is_full(),
            Served::Summarizer(_, e) => e.is_full(),
        }
    }

    fn in_flight(&self) -> usize {
        match self {
            Served::Segmenter(_, e) => e.in_flight(),
            Served::Detector(_, e) => e.in_flight(),
            Served::Classifier(_, e) => e.in_flight(),
            Served::Summarizer(_, e) => e.in_flight(),
        }
    }

    pub fn options(&self) -> EngineOptions {
        match self {
            Served::Segmenter(_, e) => e.options(),
            Served::Detector(_, e) => e.options(),
            Served::Classifier(_, e) => e.options(),
            Served::Summarizer(_, e) => e.options(),
        }
    }
}

/// Engine options for every model, with per-model overrides (`--model-opts`).
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    pub default: EngineOptions,
    pub per_model: HashMap<String, EngineOptions>,
}

impl EngineConfig {
    /// The options for `id`; generation is never batched (each request has its own KV cache).
    pub fn for_model(&self, id: &str, task: Task) -> EngineOptions {
        let o = self.per_model.get(id).copied().unwrap_or(self.default);
        match task {
            Task::Summarization => EngineOptions { max_batch: 1, ..o },
            _ => o,
        }
    }
}

pub struct Slot {
    pub spec: ModelSpec,
    state: RwLock<ServingState>,
    served: OnceLock<Served>,
    /// What is wrong with the store's copy of a model that is serving from memory (changed or
    /// truncated since it was loaded), with the fixing command; `None` while the copy is good.
    store_problem: RwLock<Option<String>>,
}

impl Slot {
    pub fn state(&self) -> ServingState {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_state(&self, s: ServingState) {
        METRICS
            .model_ready
            .with_label_values(&[&self.spec.id])
            .set(i64::from(s == ServingState::Ready));
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// The store copy's problem, if it went bad while the model serves from memory.
    pub fn store_problem(&self) -> Option<String> {
        self.store_problem
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The engine, once the model is ready.
    pub fn served(&self) -> Option<&Served> {
        if self.state() == ServingState::Ready {
            self.served.get()
        } else {
            None
        }
    }
}

/// Turns a catalog entry into a loaded model, or the state that says why it cannot be.
pub type Loader = Box<dyn Fn(&ModelSpec) -> (ServingState, Option<Model>) + Send + Sync>;

/// Looks at a loaded model's store copy: `None` when it is intact, else what is wrong with it.
pub type StoreCheck = Box<dyn FnMut(&ModelSpec) -> Option<String> + Send>;

/// The store check for models being served: sha256s again only when a file's length or
/// modification time changed since the last look (or since loading).
pub fn store_check(store: models::Store) -> StoreCheck {
    type Fingerprint = Vec<(String, Option<(u64, std::time::SystemTime)>)>;
    let mut seen: std::collections::HashMap<String, (Fingerprint, Option<String>)> =
        std::collections::HashMap::new();
    Box::new(move |spec: &models::ModelSpec| {
        let print = store.fingerprint(spec);
        match seen.get(&spec.id) {
            Some((last, verdict)) if *last == print => verdict.clone(),
            Some(_) | None => {
                let verdict = match store.state(spec) {
                    models::StoreState::Ready => None,
                    models::StoreState::Missing(files) => Some(format!(
                        "store copy missing {}; fix: candlelit models fetch {}",
                        files.join(", "),
                        spec.id
                    )),
                    models::StoreState::Corrupt(why) => Some(format!(
                        "store copy corrupt: {why}; fix: candlelit models fetch {}",
                        spec.id
                    )),
                };
                seen.insert(spec.id.clone(), (print, verdict.clone()));
                verdict
            }
        }
    })
}

pub struct ServedModels {
    pub catalog: Catalog,
    pub slots: Vec<Slot>,
    engines: EngineConfig,
}

impl ServedModels {
    /// Every catalog model, `Loading` (or `Disabled` when `enabled` leaves it out); nothing is
    /// loaded until [`load_all`](Self::load_all) or [`start_loading`](Self::start_loading).
    pub fn new(catalog: Catalog, enabled: Option<&[String]>, engines: EngineConfig) -> Arc<Self> {
        let specs = catalog.models.clone();
        Self::with_specs(catalog, specs, enabled, engines)
    }

    fn with_specs(
        catalog: Catalog,
        specs: Vec<ModelSpec>,
        enabled: Option<&[String]>,
        engines: EngineConfig,
    ) -> Arc<Self> {
        let slots = specs
            .into_iter()
            .map(|spec| {
                let off = enabled.is_some_and(|e| !e.iter().any(|id| id == &spec.id));
                Slot {
                    spec,
                    state: RwLock::new(if off {
                        ServingState::Disabled
                    } else {
                        ServingState::Loading
                    }),
                    served: OnceLock::new(),
                    store_problem: RwLock::new(None),
                }
            })
            .collect();
        Arc::new(Self {
            catalog,
            slots,
            engines,
        })
    }

    /// Models that are already built (tests, embedding), loaded and warmed up before returning.
    /// Only these models get slots; the catalog still names each task's default.
    pub fn ready(
        catalog: Catalog,
        models: Vec<(ModelSpec, Model)>,
        engines: EngineConfig,
    ) -> Arc<Self> {
        let specs: Vec<ModelSpec> = models.iter().map(|(s, _)| s.clone()).collect();
        let this = Self::with_specs(catalog, specs, None, engines);
        let models = std::sync::Mutex::new(models);
        let loader: Loader = Box::new(move |spec: &ModelSpec| {
            let mut all = models.lock().unwrap_or_else(|p| p.into_inner());
            match all.iter().position(|(s, _)| s.id == spec.id) {
                Some(i) => (ServingState::Ready, Some(all.swap_remove(i).1)),
                None => (
                    ServingState::Missing {
                        fix: models::load::fix_command(&spec.id),
                    },
                    None,
                ),
            }
        });
        this.load_all(&loader);
        this
    }

    /// Loads and warms up every enabled model in a background thread, one after another. With
    /// `rescan`, the thread then looks at the store again at that interval and loads models
    /// whose files have appeared since (a hub model installed by hand), with no restart.
    ///
    /// With `check`, each look also checks the store copies of the models being served: one that
    /// was changed or truncated since loading keeps serving from its verified copy in memory,
    /// while `/readyz`, `/api/v1/models` and a warning log say the store copy is corrupt (a
    /// restart would leave just that model unavailable).
    pub fn start_loading(
        self: &Arc<Self>,
        loader: Loader,
        rescan: Option<std::time::Duration>,
    ) -> std::thread::JoinHandle<()> {
        self.start_loading_checked(loader, rescan, None)
    }

    pub fn start_loading_checked(
        self: &Arc<Self>,
        loader: Loader,
        rescan: Option<std::time::Duration>,
        mut check: Option<StoreCheck>,
    ) -> std::thread::JoinHandle<()> {
        let this = self.clone();
        std::thread::Builder::new()
            .name("model-loader".into())
            .spawn(move || {
                this.load_all(&loader);
                let Some(every) = rescan else { return };
                loop {
                    std::thread::sleep(every);
                    this.rescan(&loader);
                    if let Some(check) = check.as_mut() {
                        this.check_store(check);
                    }
                }
            })
            .expect("spawning the model loader")
    }

    /// Runs `check` on every model serving from memory and records what it finds (see
    /// [`start_loading_checked`](Self::start_loading_checked)); a change is logged once.
    pub fn check_store(&self, check: &mut StoreCheck) {
        for slot in self.slots.iter().filter(|s| s.served.get().is_some()) {
            let found = check(&slot.spec);
            let mut held = slot
                .store_problem
                .write()
                .unwrap_or_else(|p| p.into_inner());
            if *held != found {
                match &found {
                    Some(problem) => tracing::warn!(
                        model = %slot.spec.id,
                        %problem,
                        "the store copy of a model being served is corrupt; serving from the verified copy in memory"
                    ),
                    None => tracing::info!(model = %slot.spec.id, "the store copy is intact again"),
                }
                *held = found;
            }
        }
    }

    /// Tries again the models whose files were missing; returns how many models are ready
    /// afterwards (0 when there was nothing to retry).
    pub fn rescan(&self, loader: &Loader) -> usize {
        let mut again = 0;
        for slot in &self.slots {
            if slot.state().may_appear() && slot.served.get().is_none() {
                slot.set_state(ServingState::Loading);
                again += 1;
            }
        }
        if again == 0 {
            return 0;
        }
        self.load_all(loader);
        self.slots
            .iter()
            .filter(|s| s.state() == ServingState::Ready)
            .count()
    }

    /// Loads, starts the engine of, and warms up each enabled model (blocking). Models load
    /// side by side, one thread each: reading files and the warm-up runs overlap, so the
    /// server is ready in about the time of its slowest model rather than the sum.
    pub fn load_all(&self, loader: &Loader) {
        std::thread::scope(|scope| {
            for slot in &self.slots {
                if slot.state() == ServingState::Loading {
                    scope.spawn(|| self.load_one(slot, loader));
                }
            }
        });
        METRICS.models_loaded.set(
            self.slots
                .iter()
                .filter(|s| s.state() == ServingState::Ready)
                .count() as i64,
        );
    }

    fn load_one(&self, slot: &Slot, loader: &Loader) {
        {
            let id = slot.spec.id.clone();
            let t0 = Instant::now();
            let (state, model) = loader(&slot.spec);
            let Some(model) = model.filter(|_| state == ServingState::Ready) else {
                // Optional models not installed are expected; anything else needs a look.
                if matches!(state, ServingState::NotInstalled { .. }) {
                    tracing::info!(model = %id, state = ?state, "model not installed");
                } else {
                    tracing::warn!(model = %id, state = ?state, "model not served");
                }
                slot.set_state(state);
                return;
            };
            slot.set_state(ServingState::WarmingUp);
            let options = self.engines.for_model(&id, slot.spec.task);
            let served = start_engine(&id, model, options);
            match warm_up(&served) {
                Ok(ms) => {
                    let _ = slot.served.set(served);
                    slot.set_state(ServingState::Ready);
                    tracing::info!(
                        model = %id,
                        load_ms = t0.elapsed().as_millis() as u64,
                        warmup_ms = ms,
                        workers = options.workers,
                        queue = options.queue,
                        max_batch = options.max_batch,
                        "model ready"
                    );
                }
                Err(e) => {
                    tracing::error!(model = %id, error = %e, "warm-up failed");
                    slot.set_state(ServingState::Failed {
                        detail: format!("warm-up failed: {e}"),
                    });
                }
            }
        }
    }

    pub fn slot(&self, id: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.spec.id == id)
    }

    /// The task's default model id: the catalog default if it is ready, else the first ready.
    pub fn default_id(&self, task: Task) -> Option<&str> {
        let ready = |id: &str| {
            self.slot(id)
                .is_some_and(|s| s.state() == ServingState::Ready)
        };
        if let Some(d) = self.catalog.default_for(task).filter(|d| ready(&d.id)) {
            return Some(&d.id);
        }
        self.slots
            .iter()
            .find(|s| s.spec.task == task && s.state() == ServingState::Ready)
            .map(|s| s.spec.id.as_str())
    }

    /// Requests queued or running over every model (zero: idle).
    pub fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .filter_map(|s| s.served())
            .map(Served::in_flight)
            .sum()
    }

    /// Copies each engine's queue depth into the metrics (called at scrape time).
    pub fn export_gauges(&self) {
        for s in &self.slots {
            let depth = s.served().map(Served::queue_depth).unwrap_or(0);
            METRICS
                .queue_depth
                .with_label_values(&[&s.spec.id])
                .set(depth as i64);
        }
    }
}

fn errors<T>(v: Vec<models::Result<T>>) -> Vec<Result<T, ApiError>> {
    v.into_iter().map(|r| r.map_err(ApiError::from)).collect()
}

fn start_engine(id: &str, model: Model, options: EngineOptions) -> Served {
    match model {
        Model::Segmenter(m) => {
            let run: BatchFn<Arc<RgbImage>, Segmentation> = {
                let m = m.clone();
                Arc::new(move |imgs: Vec<Arc<RgbImage>>| {
                    let refs: Vec<&RgbImage> = imgs.iter().map(AsRef::as_ref).collect();
                    errors(m.segment_batch(&refs))
                })
            };
            Served::Segmenter(m, Engine::start(id, options, run))
        }
        Model::Detector(m) => {
            let run: BatchFn<(Arc<RgbImage>, f32), Detections> = {
                let m = m.clone();
                Arc::new(move |items: Vec<(Arc<RgbImage>, f32)>| {
                    let refs: Vec<(&RgbImage, f32)> =
                        items.iter().map(|(i, s)| (i.as_ref(), *s)).collect();
                    errors(m.detect_batch(&refs))
                })
            };
            Served::Detector(m, Engine::start(id, options, run))
        }
        Model::Classifier(m) => {
            let run: BatchFn<Arc<RgbImage>, Classification> = {
                let m = m.clone();
                Arc::new(move |imgs: Vec<Arc<RgbImage>>| {
                    let refs: Vec<&RgbImage> = imgs.iter().map(AsRef::as_ref).collect();
                    errors(m.classify_batch(&refs))
                })
            };
            Served::Classifier(m, Engine::start(id, options, run))
        }
        Model::Summarizer(m) => {
            let run: BatchFn<SummarizeJob, Summary> = {
                let m = m.clone();
                Arc::new(move |jobs: Vec<SummarizeJob>| {
                    jobs.into_iter()
                        .map(|mut j| m.summarize(&j.req, &mut j.on_token).map_err(Into::into))
                        .collect()
                })
            };
            Served::Summarizer(m, Engine::start(id, options, run))
        }
    }
}

/// One inference before the model takes requests, so the first user does not pay for lazy
/// allocations; returns the time it took, in milliseconds.
fn warm_up(served: &Served) -> Result<u64, ApiError> {
    let t0 = Instant::now();
    let grey = |spec: &ModelSpec| {
        let (w, h) = spec
            .input
            .as_ref()
            .map(|i| (i.width, i.height))
            .unwrap_or((64, 64));
        RgbImage::from_pixel(w, h, image::Rgb([128, 128, 128]))
    };
    match served {
        Served::Segmenter(m, _) => m.segment(&grey(m.spec())).map(drop),
        Served::Detector(m, _) => m.detect(&grey(m.spec()), 0.5).map(drop),
        Served::Classifier(m, _) => m.classify(&grey(m.spec())).map(drop),
        Served::Summarizer(m, _) => {
            let req = SummarizeRequest {
                text: "The weather was warm and sunny all day.".into(),
                min_tokens: 0,
                max_tokens: 1,
            };
            m.summarize(&req, &mut |_| true).map(drop)
        }
    }?;
    Ok(t0.elapsed().as_millis() as u64)
}
