// Reference outputs for the segmentation models, from TF.js (the runtime these model.json/.bin
// files were made for), on the exact inputs candle uses (written by the `parity_inputs` example).
//
//   node scripts/golden/segmentation.mjs <parity-dir> <golden-out-dir>
//
// Each golden file keeps the person probability per pixel at the model's resolution, quantised
// to u16 (step 1.5e-5), and the sha256 of the input it came from.
import fs from 'node:fs';
import path from 'node:path';
import { tf, goldenCases, goldenHeader, rgbInput } from '../lib/tfjs.mjs';

const [parityDir, outDir] = process.argv.slice(2);
for await (const [c, model] of goldenCases(parityDir, outDir, 'segmentation')) {
  const input = rgbInput(parityDir, c);
  let out = model.execute(input);
  if (c.output_kind === 'softmax') out = tf.softmax(out);
  const data = await out.data();
  const channels = out.shape[3];
  const probs = new Uint16Array(c.width * c.height);
  for (let i = 0; i < probs.length; i++) {
    probs[i] = Math.round(Math.min(1, Math.max(0, data[i * channels + c.channel])) * 65535);
  }
  const golden = {
    ...goldenHeader(c),
    probs_u16le_base64: Buffer.from(probs.buffer).toString('base64'),
  };
  fs.writeFileSync(path.join(outDir, `${c.name}.json`), JSON.stringify(golden));
  tf.dispose([input, out]);
  console.log(`${c.name}: done`);
}
