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


def gguf_vocab(gguf_path):
    from gguf import GGUFReader

    r = GGUFReader(gguf_path)
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    merges = r.fields["tokenizer.ggml.merges"].contents()
    types = r.fields["tokenizer.ggml.token_type"].contents()
    return tokens, merges, types


def smollm_tokenizers_lib(tokens, merges, types):
    """SmolLM2's tokenizer.json pipeline in the `tokenizers` library: digits split one by one,
    then GPT-2 byte-level BPE; control tokens (type 3) kept whole."""
    tk = Tokenizer(BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=[tuple(m.split(" ", 1)) for m in merges]))
    tk.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([t for t, ty in zip(tokens, types) if ty == 3])
    return tk


class LlamaCppSmollm:
    """llama.cpp's algorithm for `tokenizer.ggml.pre = smollm`, written out: split on control
    tokens, then on `\\p{N}` (each digit alone), then with the GPT-2 regex; map bytes to the
    byte-level alphabet; apply BPE merges by rank. Independent of the `tokenizers` library."""

    GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

    def __init__(self, tokens, merges, types):
        import regex

        self.re_digit = regex.compile(r"\p{N}")
        self.re_gpt2 = regex.compile(self.GPT2)
        self.ids = {t: i for i, t in enumerate(tokens)}
        self.ranks = {tuple(m.split(" ", 1)): r for r, m in enumerate(merges)}
        self.control = [t for t, ty in zip(tokens, types) if ty == 3]
        self.re_control = regex.compile("|".join(regex.escape(t) for t in sorted(self.control, key=len, reverse=True)))
        bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
        cs, n = bs[:], 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + n)
                n += 1
        self.byte_char = {b: chr(c) for b, c in zip(bs, cs)}

    def _split(self, text):
        pieces, at = [], 0
        for m in self.re_digit.finditer(text):
            pieces += [text[at:m.start()], m.group()]
            at = m.end()
        pieces.append(text[at:])
        return [w for p in pieces if p for w in self.re_gpt2.findall(p)]

    def _bpe(self, word):
        parts = list(word)
        while len(parts) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            rank, i = min(pairs)
            if rank == 1 << 30:
                break
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        return [self.ids[p] for p in parts]

    def encode(self, text):
        out, at = [], 0
        for m in list(self.re_control.finditer(text)) + [None]:
            seg = text[at:m.start()] if m else text[at:]
            for w in self._split(seg):
                out += self._bpe("".join(self.byte_char[b] for b in w.encode("utf-8")))
            if m:
                out.append(self.ids[m.group()])
                at = m.end()
        return out


def main():
    gguf_path, out_dir = sys.argv[1], sys.argv[2]
    torch.set_num_threads(2)
    d, f = os.path.split(os.path.abspath(gguf_path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    model.eval()
    vocab = gguf_vocab(gguf_path)
    lib_tok = smollm_tokenizers_lib(*vocab)
    cpp_tok = LlamaCppSmollm(*vocab)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    stop = {im_end, eot}
    os.makedirs(out_dir, exist_ok=True)
    for n, text in enumerate(TEXTS, 1):
        user = f"{INSTRUCTION}\n\n{text.strip()}"
        prompt = tok.apply_chat_template([{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True)
        ids = lib_tok.encode(prompt, add_special_tokens=False).ids
        if ids != cpp_tok.encode(prompt):
            sys.exit(f"text {n}: the two smollm tokenizers disagree; fix them before writing goldens")
        # transformers (through 5.x) has no `smollm` pre-tokenizer for GGUF files and falls back
        # to plain GPT-2 splitting (numbers whole). Its ids are recorded, not used.
        ids_tf = tok(prompt, add_special_tokens=False)["input_ids"]
        diff = next((i for i, (a, b) in enumerate(zip(ids, ids_tf)) if a != b), None)
        if ids != ids_tf:
            print(f"text {n}: transformers' GGUF tokenizer differs from smollm at {diff}: "
                  f"{tok.convert_ids_to_tokens(ids_tf[diff:diff + 4])} vs {tok.convert_ids_to_tokens(ids[diff:diff + 4])}",
                  file=sys.stderr)
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
            "prompt_token_ids_source": "smollm pre-tokenizer: tokenizers Digits+ByteLevel == llama.cpp algorithm (both in this script)",
            "transformers_gguf_tokenizer_agrees": ids == ids_tf,
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
