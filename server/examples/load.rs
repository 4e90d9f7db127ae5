//! Load generator for a running candlelit (a benchmark, not a test): drives one route with 1, 4,
//! 16 and 64 concurrent clients for a fixed time each and prints throughput, p50/p99 latency and
//! the count of each status, plus the server's peak RSS (from /proc, given its pid).
//!
//! Loopback only, bounded in time and count: `cargo run --release -p server --example load --
//! --url http://127.0.0.1:3000/api/v1/segment/selfie --image person.jpg --seconds 10 --pid N`
//! (`scripts/bench/load.sh` starts the server with batching on and off and runs this).
//! `--clients 4` picks the levels; `--multipart file` sends the image as that multipart form
//! field, as the seeds' clients do, instead of a raw body (`scripts/bench/http_race.py`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn rss_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = arg("--url").unwrap_or_else(|| "http://127.0.0.1:3000/api/v1/segment/selfie".into());
    let host = url::Url::parse(&url)?.host_str().unwrap_or("").to_owned();
    anyhow::ensure!(
        ["127.0.0.1", "localhost", "[::1]"].contains(&host.as_str()),
        "the load generator only targets loopback, not {host}"
    );
    let image = std::fs::read(arg("--image").expect("--image <file>"))?;
    let mime = if image.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        "image/jpeg"
    };
    let (content_type, body) = match arg("--multipart") {
        Some(field) => {
            let boundary = "candlelit-load-0123456789";
            let mut body = format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"{field}\"; \
                 filename=\"upload\"\r\ncontent-type: {mime}\r\n\r\n"
            )
            .into_bytes();
            body.extend_from_slice(&image);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            (format!("multipart/form-data; boundary={boundary}"), body)
        }
        None => (mime.to_string(), image),
    };
    let body = bytes::Bytes::from(body);
    let seconds: u64 = arg("--seconds").map_or(Ok(10), |s| s.parse())?;
    anyhow::ensure!(seconds <= 120, "at most 120 s per level");
    let levels: Vec<usize> = arg("--clients")
        .unwrap_or_else(|| "1,4,16,64".into())
        .split(',')
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let label = arg("--label").unwrap_or_default();
    let pid = arg("--pid");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .timeout(Duration::from_secs(120))
        .build()?;

    println!(
        "| run | clients | requests/s | p50 ms | p99 ms | statuses | refusals p50/p99 ms | server peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for clients in levels {
        let until = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (client, url, body) = (client.clone(), url.clone(), body.clone());
                let content_type = content_type.clone();
                tokio::spawn(async move {
                    let mut seen: Vec<(u16, f64)> = Vec::new();
                    // Each client sends one request at a time, at most 10 000 in all.
                    while Instant::now() < until && seen.len() < 10_000 {
                        let t0 = Instant::now();
                        let status = match client
                            .post(&url)
                            .header("content-type", &content_type)
                            .body(body.clone())
                            .send()
                            .await
                        {
                            Ok(r) => {
                                let s = r.status().as_u16();
                                let _ = r.bytes().await;
                                s
                            }
                            Err(_) => 0, // connection error
                        };
                        seen.push((status, t0.elapsed().as_secs_f64() * 1e3));
                        if status == 429 || status == 503 {
                            // Honour Retry-After loosely so refused clients do not spin.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    seen
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await?);
        }
        let wall = started.elapsed().as_secs_f64();
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        for (s, _) in &all {
            *statuses.entry(*s).or_default() += 1;
        }
        let mut ok: Vec<f64> = all
            .iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, ms)| *ms)
            .collect();
        ok.sort_by(f64::total_cmp);
        // How fast a refusal is answered (429/503): the point of refusing early.
        let mut refused: Vec<f64> = all
            .iter()
            .filter(|(s, _)| matches!(*s, 429 | 503))
            .map(|(_, ms)| *ms)
            .collect();
        refused.sort_by(f64::total_cmp);
        let refusals = if refused.is_empty() {
            "-".to_string()
        } else {
            format!("{:.1} / {:.1}", pct(&refused, 0.5), pct(&refused, 0.99))
        };
        let rss = pid
            .as_deref()
            .and_then(|p| rss_kib(p, "VmHWM:"))
            .map_or("-".into(), |k| format!("{:.0} MB", k as f64 / 1024.0));
        let st: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
        println!(
            "| {label} | {clients} | {:.1} | {:.1} | {:.1} | {} | {refusals} | {rss} |",
            ok.len() as f64 / wall,
            pct(&ok, 0.5),
            pct(&ok, 0.99),
            st.join(", ")
        );
    }
    Ok(())
}
