#!/usr/bin/env python3
"""candlelit's Open Inference Protocol route through the reference client, tritonclient.http,
used as a Triton or KServe user would: default settings (inputs and outputs as binary tensor
data), then JSON both ways. Every task on its real model, asserting real results. Run by
scripts/test/oip.sh against a running server; exits non-zero if any check fails."""

import argparse
import base64
import io
import sys
import traceback

import numpy as np
import tritonclient.http as httpclient
from PIL import Image
from tritonclient.utils import InferenceServerException

MODELS = {
    "selfie": ("image", ["mask", "shares", "labels"]),
    "nanodet": ("image", ["boxes", "scores", "labels"]),
    "efficientnet-lite0": ("image", ["labels", "probabilities"]),
    "smollm2": ("text", ["summary"]),
}

TEXT = (
    "The city council met on Tuesday evening to decide the future of the old rail yard. "
    "After three hours of debate, members voted seven to two to turn the site into a public "
    "park with a playground, a community garden and a small outdoor stage. Construction is "
    "expected to start next spring and to cost about four million dollars, most of it from a "
    "state grant. Residents who spoke at the meeting were largely in favour, though some "
    "worried about parking and noise from concerts."
)


def bytes_input(data, binary=True, name="image"):
    t = httpclient.InferInput(name, [1], "BYTES")
    t.set_data_from_numpy(np.array([data], dtype=np.object_), binary_data=binary)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="host:port of the server")
    ap.add_argument("--samples", required=True, help="the store's sample photos")
    ap.add_argument("--labels", required=True, help="imagenet-1k.txt (classes 151..268 are dogs)")
    args = ap.parse_args()

    photo = lambda name: open(f"{args.samples}/{name}", "rb").read()
    with open(args.labels) as f:
        dogs = {line.strip() for line in f.read().splitlines()[151:269]}
    client = httpclient.InferenceServerClient(url=args.url)
    results = []

    def check(name):
        def run(fn):
            try:
                detail = fn()
                results.append((name, True, detail or ""))
            except Exception as e:  # a failed check is reported, and the rest still run
                traceback.print_exc()
                results.append((name, False, f"{type(e).__name__}: {e}"))
            return fn

        return run

    @check("health and metadata")
    def _():
        assert client.is_server_live(), "not live"
        assert client.is_server_ready(), "not ready"
        for model, (inp, outs) in MODELS.items():
            assert client.is_model_ready(model), f"{model} not ready"
            md = client.get_model_metadata(model)
            assert md["name"] == model, md
            assert [i["name"] for i in md["inputs"]] == [inp], md
            assert [o["name"] for o in md["outputs"]] == outs, md
        return f"{len(MODELS)} models ready, metadata inputs/outputs as infer uses them"

    @check("segmentation: selfie, person.jpg")
    def _():
        img = Image.open(io.BytesIO(photo("person.jpg")))
        r = client.infer("selfie", [bytes_input(photo("person.jpg"))])
        mask, shares = r.as_numpy("mask"), r.as_numpy("shares")
        labels = [l.decode() for l in r.as_numpy("labels")]
        assert mask.dtype == np.uint8 and mask.shape == (img.height, img.width), mask.shape
        person = float(shares[labels.index("person")])
        assert abs(person - float((mask == 1).mean())) < 1e-6, "shares agree with the mask"
        assert person > 0.02, f"person share {person}"
        # The same request with JSON tensors both ways (base64 file in, numbers out).
        b64 = base64.b64encode(photo("person.jpg")).decode()
        outs = [httpclient.InferRequestedOutput(n, binary_data=False) for n in ("mask", "shares")]
        j = client.infer("selfie", [bytes_input(b64, binary=False)], outputs=outs)
        assert np.array_equal(j.as_numpy("mask").astype(np.uint8), mask), "JSON mask differs"
        return f"mask {mask.shape[1]}x{mask.shape[0]}, person share {person:.3f}; JSON == binary"

    @check("detection: nanodet, person.jpg and dog.jpg")
    def _():
        found = {}
        for name, want in (("person.jpg", "person"), ("dog.jpg", "dog")):
            r = client.infer("nanodet", [bytes_input(photo(name))])
            boxes, scores = r.as_numpy("boxes"), r.as_numpy("scores")
            labels = [l.decode() for l in r.as_numpy("labels")]
            assert boxes.shape == (len(labels), 4) and scores.shape == (len(labels),)
            assert want in labels, f"no {want} in {name}: {labels}"
            i = labels.index(want)
            x1, y1, x2, y2 = boxes[i]
            img = Image.open(io.BytesIO(photo(name)))
            assert 0 <= x1 < x2 <= img.width + 1 and 0 <= y1 < y2 <= img.height + 1, boxes[i]
            found[want] = (float(scores[i]), [round(float(v)) for v in boxes[i]])
        return "; ".join(f"{k} {s:.2f} at {b}" for k, (s, b) in found.items())

    @check("classification: efficientnet-lite0, dog.jpg as a file and as UINT8 pixels")
    def _():
        r = client.infer("efficientnet-lite0", [bytes_input(photo("dog.jpg"))])
        labels = [l.decode() for l in r.as_numpy("labels")]
        probs = r.as_numpy("probabilities")
        assert len(labels) == 5 and probs.shape == (5,), labels
        assert any(l in dogs for l in labels), f"no dog in the top 5: {labels}"
        assert all(probs[i] >= probs[i + 1] for i in range(4)), probs
        pixels = np.asarray(Image.open(io.BytesIO(photo("dog.jpg"))).convert("RGB"))
        t = httpclient.InferInput("image", list(pixels.shape), "UINT8")
        t.set_data_from_numpy(pixels)
        p = client.infer("efficientnet-lite0", [t], parameters={"top_k": 3})
        px = [l.decode() for l in p.as_numpy("labels")]
        assert len(px) == 3 and px[0] == labels[0], (px, labels)
        return f"top-1 '{labels[0]}' ({probs[0]:.2f}), the same from {pixels.shape} pixels"

    @check("summarization: smollm2")
    def _():
        r = client.infer(
            "smollm2", [bytes_input(TEXT.encode(), name="text")], parameters={"max_tokens": 48}
        )
        out = r.as_numpy("summary")
        assert out.shape == (1,), out.shape
        summary = out[0].decode()
        assert summary.strip(), "empty summary"
        assert len(summary) < len(TEXT), "not shorter than the text"
        return f"{summary!r}"

    @check("errors reach the client with their status")
    def _():
        statuses = []
        bad = httpclient.InferInput("image", [1], "FP32")
        bad.set_data_from_numpy(np.array([0.5], dtype=np.float32))
        for model, inputs, want in (
            ("selfie", [bad], "400"),
            ("resnet9000", [bytes_input(photo("dog.jpg"))], "404"),
            ("selfie", [bytes_input(b"not an image")], "415"),
        ):
            try:
                client.infer(model, inputs)
            except InferenceServerException as e:
                assert e.status() == want, (model, e.status(), e.message())
                assert e.message(), "the error says why"
                statuses.append(want)
                continue
            raise AssertionError(f"{model}: no error")
        return ", ".join(statuses)

    width = max(len(n) for n, _, _ in results)
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name.ljust(width)}  {detail}")
    failed = sum(not ok for _, ok, _ in results)
    print(f"tritonclient: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
