"""The HTTP peer candlelit is raced against (`make bench-http`, scripts/bench/http_race.py): the
image classifier as the seeds' FastAPI tutorials serve it. One uvicorn worker, the model loaded
once at start (EfficientNet-Lite0 in PyTorch, exactly as scripts/golden/classification.py loads
it), torch on 2 threads, `POST /predict/image_classes` taking a multipart `file` upload in an
`async def` handler that runs the model inline, preprocessing as the catalog states it for
candlelit (shorter side to 256 bicubic, centre crop 224, (x - 127) / 128), top-5 JSON back.

    ~/.cache/candlelit/py-bench/bin/python scripts/bench/fastapi_peer.py [--port 3919] [--model-dir model-store]
"""
import argparse
import io
import sys
from pathlib import Path

import numpy as np
import torch
import uvicorn
from fastapi import FastAPI, File, UploadFile
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
from classification import labels, load_model  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--port", type=int, default=3919)
ap.add_argument("--model-dir", default="model-store")
args = ap.parse_args()

torch.set_num_threads(2)
MODEL = load_model(str(Path(args.model_dir) / "efficientnet-lite0/efficientnet-lite0-57934424.pth"))
LABELS = labels()
app = FastAPI()


def preprocess(img):
    w, h = img.size
    s = 256 / min(w, h)
    img = img.resize((round(w * s), round(h * s)), Image.BICUBIC)
    left, top = (img.width - 224) // 2, (img.height - 224) // 2
    x = np.asarray(img.crop((left, top, left + 224, top + 224)), np.float32)
    return torch.from_numpy(((x - 127) / 128).transpose(2, 0, 1)[None].copy())


@app.post("/predict/image_classes")
async def predict(file: UploadFile = File(...)):
    img = Image.open(io.BytesIO(await file.read())).convert("RGB")
    with torch.no_grad():
        probs = MODEL(preprocess(img)).softmax(1)[0]
    top = probs.topk(5)
    top_k = [{"index": int(i), "label": LABELS[int(i)], "probability": float(p)} for p, i in zip(top.values, top.indices)]
    return {"class_label": top_k[0]["label"], "probability": top_k[0]["probability"], "top_k": top_k}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=args.port, workers=1, log_level="warning")
