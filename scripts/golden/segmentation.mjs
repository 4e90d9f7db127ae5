// Reference outputs for the segmentation models, from TF.js (the runtime these model.json/.bin
// files were made for), on the exact inputs candle uses (written by the `parity_inputs` example).
//
//   node scripts/golden/segmentation.mjs <parity-dir> <golden-out-dir>
//
// Each golden file keeps the person probability per pixel at the model's resolution, quantised
// to u16 (step 1.5e-5), and the sha256 of the input it came from.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(process.env.CANDLELIT_NPM_DIR ? path.join(process.env.CANDLELIT_NPM_DIR, 'x.js') : import.meta.url);
const tf = require('@tensorflow/tfjs');

const [parityDir, outDir] = process.argv.slice(2);
await tf.setBackend('cpu');
await tf.ready();
const cases = JSON.parse(fs.readFileSync(path.join(parityDir, 'inputs.json'), 'utf8')).filter((c) => c.task === 'segmentation');
fs.mkdirSync(outDir, { recursive: true });
const models = new Map();
for (const c of cases) {
  if (!models.has(c.graph)) {
    const mj = JSON.parse(fs.readFileSync(c.graph, 'utf8'));
    const dir = path.dirname(c.graph);
    const bins = mj.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p))));
    const buf = Buffer.concat(bins);
    const weightData = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const weightSpecs = mj.weightsManifest.flatMap((g) => g.weights);
    models.set(c.graph, await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: mj.modelTopology, weightSpecs, weightData })));
  }
  const model = models.get(c.graph);
  const rgb = fs.readFileSync(path.join(parityDir, `${c.name}.rgb`));
  const input = tf.tidy(() => tf.tensor(Float32Array.from(rgb), [1, c.height, c.width, 3]).div(255));
  let out = model.execute(input);
  if (c.output_kind === 'softmax') out = tf.softmax(out);
  const data = await out.data();
  const channels = out.shape[3];
  const probs = new Uint16Array(c.width * c.height);
  for (let i = 0; i < probs.length; i++) {
    probs[i] = Math.round(Math.min(1, Math.max(0, data[i * channels + c.channel])) * 65535);
  }
  const golden = {
    model: c.model,
    photo: c.photo,
    width: c.width,
    height: c.height,
    input_sha256: c.input_sha256,
    reference: `@tensorflow/tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}`,
    probs_u16le_base64: Buffer.from(probs.buffer).toString('base64'),
  };
  fs.writeFileSync(path.join(outDir, `${c.name}.json`), JSON.stringify(golden));
  tf.dispose([input, out]);
  console.log(`${c.name}: done`);
}
