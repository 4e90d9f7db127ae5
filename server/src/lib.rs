//! The candlelit server: configuration, the HTTP API, limits, safe URL fetching, the bounded
//! executor, and the Leptos site, composed by [`app`].

pub mod config;
pub mod error;
pub mod http;
pub mod ingress;
pub mod metrics;
pub mod routes;
pub mod runtime;
pub mod site;
pub mod site_fns;
pub mod state;
pub mod tasks;

pub use state::{leptos_options, AppState, Settings};

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post};
use axum::Router;
use leptos_axum::{generate_route_list_with_exclusions, LeptosRoutes};

use crate::ingress::conn;

/// The whole HTTP surface: API routes (behind the optional API key), health, metrics, docs,
/// the Leptos pages and static files, with request ids, metrics, tracing and CORS around all.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/segment", post(routes::segment_legacy))
        .route("/segment/result", post(routes::results::segment_result))
        .route("/classify/result", post(routes::results::classify_result))
        .route("/detect/result", post(routes::results::detect_result))
        .route("/summarize/result", post(routes::results::summarize_result))
        .route("/api/v1/segment/{model_id}", post(routes::segment_v1))
        .route("/predict", post(routes::detect_drawn))
        .route("/api/v1/detect/{model_id}", post(routes::detect_v1))
        .route("/predict/image_classes", post(routes::classify_legacy))
        .route("/api/v1/classify/{model_id}", post(routes::classify_v1))
        .route("/predict/text_summarize", post(routes::summarize_legacy))
        .route("/Summarizer", get(routes::summarize_ray))
        .route("/api/v1/summarize/{model_id}", post(routes::summarize_v1))
        .route("/api/v1/models", get(routes::list_models))
        .route("/v2/models/{model_id}", get(routes::health::oip_model))
        .route("/v2/models/{model_id}/infer", post(routes::oip::infer))
        .route(
            "/v2/models/{model_id}/ready",
            get(routes::health::oip_model_ready),
        )
        .route("/api/{*rest}", any(routes::api_not_found))
        .layer(DefaultBodyLimit::max(state.limits.body_bytes))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::require_api_key,
        ));

    let open = Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/v2/health/live", get(routes::health::oip_live))
        .route("/v2/health/ready", get(routes::health::oip_ready))
        .route("/metrics", get(routes::health::metrics))
        .route("/samples/{name}", get(routes::samples::sample))
        .route("/api-docs/openapi.json", get(routes::docs::spec))
        .route("/docs", get(routes::docs::swagger_ui))
        .route("/docs/", get(routes::docs::swagger_ui));

    // The site's server functions are routed here rather than by `leptos_routes`, so the body
    // limit, the API key and the rate limit apply to them as to the API: they run models too,
    // and a key that the site's functions bypassed would guard nothing.
    let site_fns: Vec<(String, axum::http::Method)> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, method)| (path.to_owned(), method))
        .collect();
    // Their context (the site's config, the backend) made once, as `leptos_routes` does.
    let site_context = state.site_context();
    let server_fns = site_fns
        .iter()
        .fold(Router::new(), |r, (path, method)| {
            let filter = axum::routing::MethodFilter::try_from(method.clone())
                .expect("server functions use standard HTTP methods");
            let site_context = site_context.clone();
            r.route(
                path,
                axum::routing::on(filter, move |req: axum::extract::Request| {
                    leptos_axum::handle_server_fns_with_context(site_context, req)
                }),
            )
        })
        .layer(DefaultBodyLimit::max(state.limits.body_bytes))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::require_api_key,
        ));
    let server_fns = conn::rate_limited(server_fns, state.settings.conn.rate_limit);
    let site_fn_paths = site_fns.into_iter().map(|(path, _)| path).collect();
    let routes = generate_route_list_with_exclusions(app::App, Some(site_fn_paths));
    let site = Router::new()
        .leptos_routes_with_context(&state, routes, state.site_context(), {
            let options = state.leptos.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(state.site_context(), app::shell));

    let cors = http::cors(&state.settings.cors_origins);
    let metrics = axum::middleware::from_fn_with_state(state.clone(), http::record_metrics);
    let guard = axum::middleware::from_fn_with_state(state.clone(), conn::guard_request);
    // Rate limiting (off by default) counts API calls only: probes, pages and assets stay free.
    let api = conn::rate_limited(api, state.settings.conn.rate_limit);
    api.merge(open)
        .merge(server_fns)
        .merge(site)
        .with_state(state)
        .layer(guard)
        .layer(axum::middleware::map_response(http::json_405))
        .layer(metrics)
        .layer(cors)
        .layer(http::trace_layer())
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(
            tower_http::request_id::MakeRequestUuid,
        ))
}

/// Serves `app` on `listener` until `shutdown` resolves; then answers `/readyz` with 503
/// (draining) while still serving for `settings.drain`, stops accepting connections, lets
/// requests in flight finish for up to `grace`, and returns (with a warning if any were cut
/// short). Connections are guarded as `conn` describes (cap, header and body timeouts).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let models = state.models.clone();
    let limits = state.settings.conn.clone();
    let (draining, drain) = (state.draining.clone(), state.settings.drain);
    let shutdown = async move {
        shutdown.await;
        draining.store(true, Ordering::SeqCst);
        tracing::info!(
            in_flight = models.in_flight(),
            drain_ms = drain.as_millis() as u64,
            "shutdown signalled; /readyz answers 503 (draining)"
        );
        // A balancer that is still sending here would get refused connections if the listener
        // closed now; keep serving until its health check has seen the 503.
        tokio::time::sleep(drain).await;
    };
    conn::serve_guarded(listener, app(state), limits, shutdown, grace).await
}
