// Gemini API: generateContent, streamGenerateContent (SSE with ?alt=sse, JSON array otherwise),
// countTokens; image models answer with inlineData parts.

import { DEFAULT_COMPLETION_TOKENS, PNG_BASE64, completionText, newId, promptTokens, tokenJson } from './content.ts';
import type { Exchange } from './exchange.ts';
import { toolCallOf } from './tools.ts';
import type { Directives } from './types.ts';
import { type Obj, int, isObj, str, textChars } from './util.ts';

function inputChars(body: Obj): number {
  return textChars(body.contents) + textChars(body.systemInstruction ?? body.system_instruction);
}

export function isImageModel(model: string): boolean {
  return model.includes('image');
}

/** Output tokens per generated image. */
function imageTokens(model: string, imageSize: string): number {
  if (model.includes('flash')) return 1290;
  return imageSize === '4K' ? 2000 : 1120;
}

export function countTokens(ex: Exchange, body: Obj): void {
  // countTokens may wrap the request: {generateContentRequest:{contents…}}
  const inner = isObj(body.generateContentRequest) ? body.generateContentRequest : body;
  const p = promptTokens(inputChars(inner));
  ex.sendJson(200, `{"totalTokens":${p},"promptTokensDetails":[{"modality":"TEXT","tokenCount":${p}}]}`);
}

type Part = Obj;

export function generate(ex: Exchange, body: Obj, d: Readonly<Directives>, stream: boolean, sse: boolean): void {
  const model = ex.model;
  const gen = isObj(body.generationConfig) ? body.generationConfig : isObj(body.generation_config) ? body.generation_config : undefined;
  const p = promptTokens(inputChars(body));
  const cached = d.cached;
  const promptTotal = Math.max(p, cached);
  const responseId = newId('');
  const promptDetails = [{ modality: 'TEXT', tokenCount: promptTotal }];
  const image = isImageModel(model);
  let outcome = 'ok';
  let extra: string[] | undefined;

  const finishFrames = (objs: Obj[]): void => {
    if (!stream) {
      const json = JSON.stringify(objs[0]);
      if (d.cut >= 0) ex.sendTruncatedJson(200, json);
      else ex.sendJson(200, json, outcome, extra);
      return;
    }
    const frames = new Array<string>(objs.length);
    for (let i = 0; i < objs.length; i++) frames[i] = JSON.stringify(objs[i]);
    emit(frames);
  };
  const emit = (jsons: string[]): void => {
    const frames: string[] = new Array(sse ? jsons.length : jsons.length + 1);
    if (sse) {
      for (let i = 0; i < jsons.length; i++) frames[i] = 'data: ' + jsons[i] + '\r\n\r\n';
      ex.sendStream(200, frames, d.chunkMs, d.cut, outcome, undefined, extra);
    } else {
      for (let i = 0; i < jsons.length; i++) frames[i] = (i === 0 ? '[' : ',\r\n') + jsons[i];
      frames[jsons.length] = ']';
      ex.sendStream(200, frames, d.chunkMs, d.cut, outcome, 'application/json; charset=UTF-8', extra);
    }
  };

  // ---- moderation
  if (d.moderation !== '') {
    outcome = 'moderation';
    const usage: Obj = image
      ? { promptTokenCount: promptTotal, candidatesTokenCount: 0, totalTokenCount: promptTotal, promptTokensDetails: promptDetails }
      : { promptTokenCount: promptTotal, totalTokenCount: promptTotal, promptTokensDetails: promptDetails };
    let res: Obj;
    if (image) {
      res = {
        candidates: [{
          finishReason: d.moderation === 'true' ? 'PROHIBITED_CONTENT' : d.moderation,
          finishMessage: 'Unable to show the generated image. The image was filtered out because it violated Google\'s Generative AI Prohibited Use policy.',
          index: 0,
        }],
      };
    } else {
      res = {
        promptFeedback: {
          blockReason: d.moderation === 'true' ? 'SAFETY' : d.moderation,
          safetyRatings: [
            { category: 'HARM_CATEGORY_SEXUALLY_EXPLICIT', probability: 'NEGLIGIBLE' },
            { category: 'HARM_CATEGORY_HATE_SPEECH', probability: 'NEGLIGIBLE' },
            { category: 'HARM_CATEGORY_HARASSMENT', probability: 'NEGLIGIBLE' },
            { category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true },
          ],
        },
      };
    }
    if (!d.usageNone) res.usageMetadata = usage;
    res.modelVersion = model;
    res.responseId = responseId;
    finishFrames([res]);
    return;
  }

  // ---- a function call
  const call = image ? null : toolCallOf('gemini', body, d);
  if (call !== null) {
    const out = promptTokens(call.json.length) + 4;
    const res: Obj = { candidates: [{ content: { parts: [{ functionCall: { name: call.name, args: call.args } }], role: 'model' }, finishReason: 'STOP', index: 0 }] };
    if (!d.usageNone) res.usageMetadata = { promptTokenCount: promptTotal, candidatesTokenCount: out, totalTokenCount: promptTotal + out, promptTokensDetails: promptDetails };
    res.modelVersion = model;
    res.responseId = responseId;
    finishFrames([res]);
    return;
  }

  // ---- content plan
  let n: number; // text tokens
  let imgs = 0;
  let imageSize = '';
  let perImage = 0;
  if (image) {
    const imageConfig = gen !== undefined && isObj(gen.imageConfig) ? gen.imageConfig : undefined;
    imageSize = (imageConfig !== undefined ? str(imageConfig.imageSize) : undefined) ?? '1K';
    imgs = d.images >= 0 ? d.images : 1;
    perImage = imageTokens(model, imageSize);
    extra = ['x-sim-image-size', imageSize, 'x-sim-image-count', String(imgs)];
    // No image: the model answers with text only. Otherwise text only on request.
    n = imgs === 0 ? (d.tokens >= 0 ? d.tokens : DEFAULT_COMPLETION_TOKENS) : (d.tokens >= 0 ? d.tokens : 0);
  } else {
    n = d.tokens >= 0 ? d.tokens : DEFAULT_COMPLETION_TOKENS;
  }
  const thoughts = d.reasoning;
  let finish = 'STOP';
  const max = gen !== undefined ? int(gen.maxOutputTokens ?? gen.max_output_tokens) : undefined;
  if (!image && max !== undefined && max >= 0 && n > max) {
    n = max;
    finish = 'MAX_TOKENS';
  }
  const candidates = n + imgs * perImage;
  const fullUsage: Obj = {
    promptTokenCount: promptTotal,
    candidatesTokenCount: candidates,
    totalTokenCount: promptTotal + candidates + thoughts,
  };
  if (cached > 0) fullUsage.cachedContentTokenCount = cached;
  if (thoughts > 0) fullUsage.thoughtsTokenCount = thoughts;
  fullUsage.promptTokensDetails = promptDetails;
  if (cached > 0) fullUsage.cacheTokensDetails = [{ modality: 'TEXT', tokenCount: cached }];
  if (image) {
    const det: Obj[] = [];
    if (n > 0) det.push({ modality: 'TEXT', tokenCount: n });
    if (imgs > 0) det.push({ modality: 'IMAGE', tokenCount: imgs * perImage });
    fullUsage.candidatesTokensDetails = det;
  }

  const deliver = (): void => {
    if (!stream) {
      const parts: Part[] = [];
      if (n > 0 || imgs === 0) parts.push({ text: completionText(n) });
      for (let i = 0; i < imgs; i++) parts.push({ inlineData: { mimeType: 'image/png', data: PNG_BASE64 } });
      const res: Obj = {
        candidates: [{ content: { parts, role: 'model' }, finishReason: finish, index: 0 }],
      };
      if (!d.usageNone) res.usageMetadata = fullUsage;
      res.modelVersion = model;
      res.responseId = responseId;
      finishFrames([res]);
      return;
    }
    // Stream: one frame per text token, then one per image; the last frame carries finishReason
    // and the full usageMetadata, earlier ones a partial usageMetadata (prompt only).
    const tail = `],"role":"model"},"index":0}],`;
    const partialUsage = d.usageNone
      ? ''
      : `"usageMetadata":{"promptTokenCount":${promptTotal},"totalTokenCount":${promptTotal}${cached > 0 ? `,"cachedContentTokenCount":${cached}` : ''}},`;
    const meta = `"modelVersion":${JSON.stringify(model)},"responseId":"${responseId}"}`;
    const partJson: string[] = [];
    for (let i = 0; i < n; i++) partJson.push(`{"text":${tokenJson(i)}}`);
    if (n === 0 && imgs === 0) partJson.push('{"text":""}');
    const imagePart = `{"inlineData":{"mimeType":"image/png","data":"${PNG_BASE64}"}}`;
    for (let i = 0; i < imgs; i++) partJson.push(imagePart);
    const jsons = new Array<string>(partJson.length);
    const last = partJson.length - 1;
    const finalUsage = d.usageNone ? '' : `"usageMetadata":${JSON.stringify(fullUsage)},`;
    for (let i = 0; i < partJson.length; i++) {
      jsons[i] = i < last
        ? '{"candidates":[{"content":{"parts":[' + partJson[i] + tail + partialUsage + meta
        : '{"candidates":[{"content":{"parts":[' + partJson[i] + `],"role":"model"},"finishReason":"${finish}","index":0}],` + finalUsage + meta;
    }
    emit(jsons);
  };

  if (image) {
    const slowMs = d.slowImageS * 1000;
    ex.simulatedMs += slowMs;
    ex.after(slowMs, deliver);
  } else {
    deliver();
  }
}
