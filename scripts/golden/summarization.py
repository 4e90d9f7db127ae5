"""Reference outputs for the summarizer, from Hugging Face transformers on the same GGUF file
candle loads (transformers dequantizes it to float32 torch weights).

    python scripts/golden/summarization.py <gguf> <golden-out-dir>

Needs torch, transformers, gguf (and numpy). For each text below it writes
`smollm2-<n>.json`: the text, the exact prompt string (the GGUF's chat template rendered by
transformers), its token ids, the first 32 greedy tokens with the top-2 logit margin at every
step, and the 16 largest logits after the prompt. The Rust test
(models/tests/parity_summarization.rs) checks candle against these.
"""

import json
import os
import sys

import torch
import transformers
from tokenizers import Tokenizer, decoders, pre_tokenizers
from tokenizers.models import BPE
from transformers import AutoModelForCausalLM, AutoTokenizer

# Must match models/src/summarize/chat.rs (INSTRUCTION, user_message).
INSTRUCTION = "Summarize the following text in one sentence."
N_TOKENS = 32
TOP_LOGITS = 16

TEXTS = [
    # Numbers (digits are single tokens in SmolLM2), an apostrophe, a currency sign.
    "The city council of Brookfield voted 7 to 2 on Tuesday night to turn the old railway depot "
    "on Mill Street into a public library and community centre. The project is expected to cost "
    "about $12.4 million, most of it covered by a state grant awarded in 2023, and construction "
    "should begin in the spring of 2026. Supporters said the town's only library, built in 1958, "
    "is too small and has no room for computer classes or after-school programs. Two council "
    "members opposed the plan, arguing that the money would be better spent repairing roads. The "
    "mayor said the new building would open by the end of 2027.",
    # Science news, a hyphenated term, a percentage.
    "Researchers at a university in Sweden have built a battery that uses wood-based carbon "
    "instead of graphite for its anode. In laboratory tests the cells kept 92% of their capacity "
    "after 1,000 charge cycles, close to the performance of commercial lithium-ion batteries. "
    "Because the carbon comes from lignin, a by-product of paper mills, the team says the material "
    "could be cheaper and easier to source than mined graphite. The researchers caution that the "
    "cells have only been made in small batches and that scaling up production will take several "
    "years. A start-up company has been founded to develop the technology further.",
    # Sport and weather, a non-ASCII name, a newline between paragraphs.
    "Heavy rain forced organisers to postpone the final day of the regional cycling race on "
    "Sunday, after several roads along the route were flooded overnight. Police closed three "
    "bridges and asked residents to avoid travelling unless necessary.\n\nThe race leader, "
    "Zoë Martín, holds a 48-second advantage over her nearest rival and will keep the yellow "
    "jersey if the stage is cancelled altogether. Officials said they would decide by Monday "
    "morning whether the stage can be held later in the week. Forecasters expect the rain to ease "
    "on Tuesday, but warned that rivers in the valley could keep rising until Wednesday.",
]


def smollm_tokenizer(gguf_tok):
    """SmolLM2's tokenizer.json pipeline (llama.cpp's `smollm` pre-tokenizer): digits split one
    by one, then GPT-2 byte-level BPE. Built from the vocabulary transformers read from the GGUF."""
    backend = gguf_tok.backend_tokenizer
    model = json.loads(backend.to_str())["model"]
    bpe = BPE(vocab=model["vocab"], merges=[tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]])
    tk = Tokenizer(bpe)
    tk.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([t for t in gguf_tok.all_special_tokens] + ["<|im_start|>", "<|im_end|>", "<|endoftext|>"])
    return tk


def main():
    gguf_path, out_dir = sys.argv[1], sys.argv[2]
    torch.set_num_threads(2)
    d, f = os.path.split(os.path.abspath(gguf_path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32)
    model.eval()
    ref_tok = smollm_tokenizer(tok)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    stop = {im_end, eot}
    os.makedirs(out_dir, exist_ok=True)
    for n, text in enumerate(TEXTS, 1):
        user = f"{INSTRUCTION}\n\n{text.strip()}"
        prompt = tok.apply_chat_template([{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True)
        ids_tf = tok(prompt, add_special_tokens=False)["input_ids"]
        ids = ref_tok.encode(prompt, add_special_tokens=False).ids
        if ids != ids_tf:
            first = next((i for i, (a, b) in enumerate(zip(ids, ids_tf)) if a != b), min(len(ids), len(ids_tf)))
            print(f"text {n}: transformers' GGUF tokenizer differs from the smollm pre-tokenizer at {first}: "
                  f"{ids_tf[first:first + 6]} vs {ids[first:first + 6]} (using the smollm ids)", file=sys.stderr)
        gen, margins = [], []
        top = None
        with torch.no_grad():
            out = model(torch.tensor([ids]), use_cache=True)
            for step in range(N_TOKENS):
                logits = out.logits[0, -1].float()
                if step == 0:
                    v, i = torch.topk(logits, TOP_LOGITS)
                    top = [[int(a), float(b)] for a, b in zip(i, v)]
                v2, i2 = torch.topk(logits, 2)
                nxt = int(torch.argmax(logits))
                margins.append(float(v2[0] - v2[1]))
                if nxt in stop:
                    break
                gen.append(nxt)
                out = model(torch.tensor([[nxt]]), past_key_values=out.past_key_values, use_cache=True)
        rec = {
            "model": "smollm2",
            "text": text,
            "prompt": prompt,
            "prompt_token_ids": ids,
            "greedy_token_ids": gen,
            "stopped_on_eos": len(gen) < N_TOKENS,
            "top2_margins": [round(m, 5) for m in margins],
            "first_step_top_logits": top,
            "decoded": tok.decode(gen, skip_special_tokens=True),
            "reference": f"transformers {transformers.__version__}, torch {torch.__version__}, float32 (GGUF dequantized), greedy",
        }
        path = os.path.join(out_dir, f"smollm2-{n}.json")
        with open(path, "w") as fh:
            json.dump(rec, fh, indent=1, ensure_ascii=False)
            fh.write("\n")
        print(f"{path}: {len(ids)} prompt tokens, {len(gen)} generated, min margin {min(margins):.4f}: {rec['decoded']!r}")


if __name__ == "__main__":
    main()
