//! T5 and BART on candle against transformers, on random-initialised twins
//! (models/tests/twins/{t5,bart}, from scripts/twins/seq2seq.py): tokenizer ids, encoder
//! output, teacher-forced decoder logits, 20 greedy tokens, beam-search outputs of `generate`
//! for several settings, and the `Summarizer` contract (min/max tokens, stop reason,
//! streaming, cancellation, concurrent requests).

use std::path::PathBuf;
use std::sync::OnceLock;

use candle_core::{Device, Tensor};
use models::summarize::seq2seq::bart::BartSummarizer;
use models::summarize::seq2seq::t5::T5Summarizer;
use models::summarize::seq2seq::{
    beam_search, greedy, EarlyStopping, SearchConfig, Seq2SeqModel, Seq2SeqText,
};
use models::summarize::{StopReason, SummarizeRequest, Summarizer};
use serde_json::Value;

const LOGIT_TOLERANCE: f32 = 1e-3;

fn twin_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/twins")
        .join(name);
    for f in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "golden.json",
        "io.safetensors",
    ] {
        assert!(
            dir.join(f).exists(),
            "{} missing: run `~/.cache/candlelit/py-twins/bin/python scripts/twins/seq2seq.py`",
            dir.join(f).display()
        );
    }
    dir
}

fn golden(name: &str) -> Value {
    let path = twin_dir(name).join("golden.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn io(name: &str) -> std::collections::HashMap<String, Tensor> {
    candle_core::safetensors::load(twin_dir(name).join("io.safetensors"), &Device::Cpu).unwrap()
}

fn t5() -> &'static T5Summarizer {
    static M: OnceLock<T5Summarizer> = OnceLock::new();
    M.get_or_init(|| T5Summarizer::load("t5-twin", &twin_dir("t5"), &Device::Cpu).unwrap())
}

fn bart() -> &'static BartSummarizer {
    static M: OnceLock<BartSummarizer> = OnceLock::new();
    M.get_or_init(|| BartSummarizer::load("bart-twin", &twin_dir("bart"), &Device::Cpu).unwrap())
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The model's own tokenizer (no task prefix) gives the Python tokenizer's ids.
fn check_tokenizer(name: &str, text: &Seq2SeqText) {
    let g = golden(name);
    let texts = g["texts"].as_array().unwrap();
    for (t, want) in texts.iter().zip(g["input_ids"].as_array().unwrap()) {
        let got = text.tokenizer().encode(t.as_str().unwrap(), true).unwrap();
        assert_eq!(got.get_ids(), ids(want).as_slice(), "{name}: ids of {t}");
    }
    for (i, want) in g["decoded"].as_array().unwrap().iter().enumerate() {
        let got = text.decode(&ids(&g["input_ids"][i])).unwrap();
        assert_eq!(got, want.as_str().unwrap(), "{name}: decode of text {i}");
    }
}

/// Encoder output and step-by-step (cached) decoder logits against transformers' full pass.
fn check_logits(name: &str, model: &dyn Seq2SeqModel) {
    let g = golden(name);
    let io = io(name);
    let input = ids(&g["input_ids"][0]);
    let enc = model.encode(&input).unwrap();
    let want_enc: Vec<f32> = io["encoder_output"]
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let got_enc: Vec<f32> = enc.flatten_all().unwrap().to_vec1().unwrap();
    let enc_delta = max_abs_diff(&got_enc, &want_enc);

    let dec_ids: Vec<u32> = io["decoder_input_ids"]
        .to_vec1::<i64>()
        .unwrap()
        .into_iter()
        .map(|x| x as u32)
        .collect();
    let want: Vec<Vec<f32>> = io["teacher_logits"].to_vec2().unwrap();
    let mut dec = model.decoder(&enc, 1).unwrap();
    let mut worst = 0.0f32;
    for (step, (&tok, want_row)) in dec_ids.iter().zip(&want).enumerate() {
        let got = dec.step(&[tok]).unwrap().swap_remove(0);
        let d = max_abs_diff(&got, want_row);
        assert!(d < LOGIT_TOLERANCE, "{name}: step {step} max |dlogit| {d}");
        worst = worst.max(d);
    }
    println!(
        "{name}: encoder max |d| {enc_delta:.2e}, decoder logits max |d| {worst:.2e} over {} steps",
        dec_ids.len()
    );
    assert!(
        enc_delta < LOGIT_TOLERANCE,
        "{name}: encoder max |d| {enc_delta}"
    );
    assert!(dec_ids.len() >= 20);
}

/// `generate`'s arguments of one golden case over the checkpoint's search config.
fn case_config(base: &SearchConfig, args: &Value) -> SearchConfig {
    let mut c = base.clone();
    let get = |k: &str| args.get(k).and_then(Value::as_u64).map(|n| n as usize);
    c.num_beams = get("num_beams").unwrap();
    c.length_penalty = args["length_penalty"].as_f64().unwrap();
    c.early_stopping = EarlyStopping::from_json(&args["early_stopping"]).unwrap();
    c.no_repeat_ngram_size = get("no_repeat_ngram_size").unwrap();
    // *_new_tokens win over *_length, as in `generate`.
    if let Some(n) = get("min_new_tokens") {
        c.min_length = n + 1;
    } else if let Some(n) = get("min_length") {
        c.min_length = n;
    }
    if let Some(n) = get("max_new_tokens") {
        c.max_length = n + 1;
    } else if let Some(n) = get("max_length") {
        c.max_length = n;
    }
    c
}

fn check_greedy(name: &str, text: &Seq2SeqText, model: &dyn Seq2SeqModel) {
    let g = golden(name);
    let want = ids(&g["greedy"]);
    // As scripts/twins/seq2seq.py's GREEDY_ARGS: 20 free tokens (EOS masked), then one more.
    let mut cfg = text.search_config().clone().with_new_tokens(20, 21);
    cfg.num_beams = 1;
    cfg.no_repeat_ngram_size = 0;
    let enc = model.encode(&ids(&g["input_ids"][0])).unwrap();
    let mut dec = model.decoder(&enc, 1).unwrap();
    let mut streamed = vec![];
    let out = greedy(dec.as_mut(), &cfg, &mut |t| {
        streamed.push(t);
        true
    })
    .unwrap();
    assert_eq!(out.tokens, want, "{name}: greedy tokens");
    assert_eq!(streamed, want, "{name}: streamed greedy tokens");
    assert_eq!(want.len(), 21);
    println!("{name}: 21 greedy tokens identical (20 with EOS masked, then one free)");
}

fn check_beams(name: &str, text: &Seq2SeqText, model: &dyn Seq2SeqModel) {
    let g = golden(name);
    let mut n = 0;
    let mut worst_score = 0.0f32;
    for (t, cases) in g["beam"].as_array().unwrap().iter().enumerate() {
        let enc = model.encode(&ids(&g["input_ids"][t])).unwrap();
        for case in cases.as_array().unwrap() {
            let cfg = case_config(text.search_config(), &case["args"]);
            let mut dec = model.decoder(&enc, cfg.num_beams).unwrap();
            let out = beam_search(dec.as_mut(), &cfg).unwrap();
            let want = ids(&case["tokens"]);
            assert_eq!(
                out.tokens, want,
                "{name}: text {t}, beam case {}",
                case["args"]
            );
            // Relative: a negative length penalty multiplies scores by the length.
            let want_score = case["score"].as_f64().unwrap() as f32;
            let ds = (out.score.unwrap() - want_score).abs() / want_score.abs().max(1.0);
            assert!(
                ds < 1e-4,
                "{name}: text {t}, case {}: score off by {ds} (relative)",
                case["args"]
            );
            worst_score = worst_score.max(ds);
            n += 1;
        }
    }
    let early = g["beam"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c.as_array().unwrap())
        .filter(|c| c["ended_early"].as_bool().unwrap())
        .count();
    assert!(
        early > 0 && early < n,
        "{name}: fixtures should mix EOS and length stops"
    );
    println!("{name}: {n} beam-search outputs identical ({early} ended on EOS early), score max relative |d| {worst_score:.2e}");
}

#[test]
fn t5_tokenizer_matches_python() {
    check_tokenizer("t5", t5().text());
    assert_eq!(t5().text().prefix(), "summarize: ");
}

#[test]
fn bart_tokenizer_matches_python() {
    check_tokenizer("bart", bart().text());
    assert_eq!(bart().text().prefix(), "");
}

#[test]
fn t5_logits_match_transformers() {
    check_logits("t5", t5().model());
}

#[test]
fn bart_logits_match_transformers() {
    check_logits("bart", bart().model());
}

#[test]
fn t5_greedy_matches_transformers() {
    check_greedy("t5", t5().text(), t5().model());
}

#[test]
fn bart_greedy_matches_transformers() {
    check_greedy("bart", bart().text(), bart().model());
}

#[test]
fn t5_beam_search_matches_transformers() {
    check_beams("t5", t5().text(), t5().model());
}

#[test]
fn bart_beam_search_matches_transformers() {
    check_beams("bart", bart().text(), bart().model());
}

#[test]
fn generation_config_sets_bart_large_cnn_style_defaults() {
    let c = bart().text().search_config();
    assert_eq!(c.num_beams, 4);
    assert_eq!(c.length_penalty, 2.0);
    assert_eq!(c.early_stopping, EarlyStopping::Done);
    assert_eq!(
        (c.min_length, c.max_length, c.no_repeat_ngram_size),
        (8, 30, 3)
    );
    assert_eq!(
        (c.forced_bos, c.forced_eos, c.decoder_start, c.eos),
        (Some(0), Some(2), 2, 2)
    );
    // t5: config.json's summarization task parameters.
    let c = t5().text().search_config();
    assert_eq!((c.num_beams, c.min_length, c.max_length), (4, 6, 40));
    assert_eq!((c.decoder_start, c.eos, c.forced_bos), (0, 1, None));
}

fn request(text: &str, min_tokens: usize, max_tokens: usize) -> SummarizeRequest {
    SummarizeRequest {
        text: text.into(),
        min_tokens,
        max_tokens,
    }
}

fn text0(name: &str) -> String {
    golden(name)["texts"][0].as_str().unwrap().to_string()
}

/// bart's generation config is golden beam case 0 (min_length 8, max_length 30), so through
/// the trait with the same limits the summary is that case's output.
#[test]
fn bart_summarizer_reproduces_generate() {
    let g = golden("bart");
    let want = ids(&g["beam"][0][0]["tokens"]);
    let mut calls = 0;
    let s = bart()
        .summarize(&request(&text0("bart"), 7, 29), &mut |_| {
            calls += 1;
            true
        })
        .unwrap();
    assert_eq!(calls, 1, "beam search hands over the text once");
    let content = &want[..want.len() - 1]; // without the EOS
    let text = bart().text().decode(content).unwrap();
    assert_eq!(s.text, text.trim());
    assert_eq!(s.tokens_generated, content.len());
    let ended_early = g["beam"][0][0]["ended_early"].as_bool().unwrap();
    let want_stop = if ended_early {
        StopReason::Eos
    } else {
        StopReason::MaxTokens
    };
    assert_eq!(s.stop_reason, want_stop);
    assert_eq!(s.prompt_tokens, ids(&g["input_ids"][0]).len());
    assert!(!s.input_truncated);
}

/// min_tokens == max_tokens == n: EOS is masked until n tokens exist, so exactly n come out
/// (BART's forced EOS takes the last slot: n - 1 content tokens), stopped by the limit.
#[test]
fn summarizers_honour_min_and_max_tokens() {
    let models: [(&dyn Summarizer, usize); 2] = [(t5(), 0), (bart(), 1)];
    for (m, forced) in models {
        for n in [3, 9] {
            let s = m
                .summarize(
                    &request(&text0(if forced == 1 { "bart" } else { "t5" }), n, n),
                    &mut |_| true,
                )
                .unwrap();
            assert_eq!(s.tokens_generated + forced, n, "{}: n={n}", m.id());
            assert_eq!(s.stop_reason, StopReason::MaxTokens, "{}", m.id());
        }
        // A wide window: whatever the model does stays inside it.
        let s = m
            .summarize(
                &request("Heavy rain flooded the streets.", 4, 15),
                &mut |_| true,
            )
            .unwrap();
        assert!(
            (4..=15).contains(&s.tokens_generated),
            "{}: {}",
            m.id(),
            s.tokens_generated
        );
        if s.stop_reason == StopReason::Eos {
            assert!(s.tokens_generated < 15);
        }
        assert!(m.summarize(&request("  ", 0, 5), &mut |_| true).is_err());
        assert!(m.summarize(&request("text", 6, 5), &mut |_| true).is_err());
        assert!(m.summarize(&request("text", 0, 0), &mut |_| true).is_err());
    }
}

#[test]
fn greedy_summarizer_streams_and_cancels() {
    let m = T5Summarizer::load("t5-greedy", &twin_dir("t5"), &Device::Cpu)
        .unwrap()
        .with_num_beams(1);
    let mut pieces = String::new();
    let mut calls = 0;
    let s = m
        .summarize(&request(&text0("t5"), 12, 12), &mut |p| {
            pieces.push_str(p);
            calls += 1;
            true
        })
        .unwrap();
    assert_eq!(s.tokens_generated, 12);
    assert!(calls > 1, "greedy streams piece by piece");
    assert_eq!(pieces.trim(), s.text);
    let mut calls = 0;
    let s = m
        .summarize(&request(&text0("t5"), 12, 12), &mut |_| {
            calls += 1;
            calls < 3
        })
        .unwrap();
    assert_eq!(s.stop_reason, StopReason::Cancelled);
    assert!(s.tokens_generated < 12);
}

#[test]
fn long_inputs_are_truncated() {
    let long = text0("bart").repeat(40); // far past the twin's 128 positions
    let s = bart()
        .summarize(&request(&long, 0, 5), &mut |_| true)
        .unwrap();
    assert!(s.input_truncated);
    assert_eq!(s.prompt_tokens, 128);
}

/// Each request has its own cache: concurrent summaries equal sequential ones.
#[test]
fn concurrent_requests_do_not_share_caches() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    assert_send_sync(t5());
    assert_send_sync(bart());
    let texts: Vec<String> = golden("t5")["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let one =
        |m: &dyn Summarizer, t: &str| m.summarize(&request(t, 2, 10), &mut |_| true).unwrap().text;
    let sequential: Vec<(String, String)> = texts
        .iter()
        .map(|t| (one(t5(), t), one(bart(), t)))
        .collect();
    let concurrent: Vec<(String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = texts
            .iter()
            .map(|t| s.spawn(move || (one(t5(), t), one(bart(), t))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(sequential, concurrent);
}
