// OpenAI endpoints: chat completions (JSON + SSE), embeddings, images generations/edits.

import {
  DEFAULT_COMPLETION_TOKENS, DEFAULT_EMBEDDING_DIMENSIONS, PNG_BASE64,
  completionText, embeddingVector, newId, nowSeconds, promptTokens, tokenJson,
} from './content.ts';
import { openaiError } from './errors.ts';
import type { Exchange } from './exchange.ts';
import { toolCallOf, type SimToolCall } from './tools.ts';
import type { Directives } from './types.ts';
import { type Obj, int, isObj, str, textChars } from './util.ts';

function sendBody(ex: Exchange, d: Readonly<Directives>, obj: unknown, extra?: string[]): void {
  const body = JSON.stringify(obj);
  if (d.cut >= 0) ex.sendTruncatedJson(200, body);
  else ex.sendJson(200, body, 'ok', extra);
}

// ---------------------------------------------------------------- chat completions

export function chatCompletions(ex: Exchange, body: Obj, d: Readonly<Directives>): void {
  if (d.moderation !== '') {
    ex.sendError(openaiError(
      400,
      'Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.',
      'invalid_request_error', 'content_policy_violation', 'messages',
    ), 'moderation');
    return;
  }
  const model = ex.model !== '' ? ex.model : 'gpt-4o-mini';
  const p = promptTokens(textChars(body.messages));
  const cached = d.cached;
  const promptTotal = Math.max(p, cached);
  let n = d.tokens >= 0 ? d.tokens : DEFAULT_COMPLETION_TOKENS;
  let finish = 'stop';
  const max = int(body.max_completion_tokens) ?? int(body.max_tokens);
  if (max !== undefined && max >= 0 && n + d.reasoning > max) {
    n = Math.max(0, max - d.reasoning);
    finish = 'length';
  }
  const completion = n + d.reasoning;
  const usage = {
    prompt_tokens: promptTotal,
    completion_tokens: completion,
    total_tokens: promptTotal + completion,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: d.reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0,
    },
  };
  const id = newId('chatcmpl-');
  const created = nowSeconds();
  const call = toolCallOf('openai', body, d);
  if (call !== null) {
    toolCallAnswer(ex, body, d, call, { id, created, model, prompt: promptTotal });
    return;
  }

  if (body.stream === true) {
    const includeUsage = isObj(body.stream_options) && body.stream_options.include_usage === true;
    const usageNull = includeUsage ? ',"usage":null}\n\n' : '}\n\n';
    const head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"service_tier":"default","system_fingerprint":"fp_sim","choices":[`;
    const frames: string[] = new Array(n + 4);
    let f = 0;
    frames[f++] = head + '{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]' + usageNull;
    const pre = head + '{"index":0,"delta":{"content":';
    const post = '},"logprobs":null,"finish_reason":null}]' + usageNull;
    for (let i = 0; i < n; i++) frames[f++] = pre + tokenJson(i) + post;
    frames[f++] = head + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"${finish}"}]` + usageNull;
    if (includeUsage && !d.usageNone) frames[f++] = head + '],"usage":' + JSON.stringify(usage) + '}\n\n';
    frames[f++] = 'data: [DONE]\n\n';
    frames.length = f;
    ex.sendStream(200, frames, d.chunkMs, d.cut);
    return;
  }

  const res: Obj = {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [{
      index: 0,
      message: { role: 'assistant', content: completionText(n), refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: finish,
    }],
  };
  if (!d.usageNone) res.usage = usage;
  res.service_tier = 'default';
  res.system_fingerprint = 'fp_sim';
  sendBody(ex, d, res);
}

/** A chat completion that calls a tool (finish_reason "tool_calls"), JSON or streamed in two argument pieces. */
function toolCallAnswer(ex: Exchange, body: Obj, d: Readonly<Directives>, call: SimToolCall, m: { id: string; created: number; model: string; prompt: number }): void {
  const completion = promptTokens(call.json.length) + 4;
  const usage = {
    prompt_tokens: m.prompt,
    completion_tokens: completion,
    total_tokens: m.prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
  if (body.stream !== true) {
    const message = { role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: { name: call.name, arguments: call.json } }], refusal: null, annotations: [] };
    const res: Obj = { id: m.id, object: 'chat.completion', created: m.created, model: m.model, choices: [{ index: 0, message, logprobs: null, finish_reason: 'tool_calls' }] };
    if (!d.usageNone) res.usage = usage;
    sendBody(ex, d, res);
    return;
  }
  const includeUsage = isObj(body.stream_options) && body.stream_options.include_usage === true;
  const chunk = (choices: unknown[], u?: unknown) => `data: ${JSON.stringify({ id: m.id, object: 'chat.completion.chunk', created: m.created, model: m.model, choices, ...(u !== undefined ? { usage: u } : {}) })}\n\n`;
  const delta = (dl: Obj, finish: string | null = null) => chunk([{ index: 0, delta: dl, logprobs: null, finish_reason: finish }]);
  const half = Math.floor(call.json.length / 2);
  const frames = [
    delta({ role: 'assistant', content: null }),
    delta({ tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }),
    delta({ tool_calls: [{ index: 0, function: { arguments: call.json.slice(0, half) } }] }),
    delta({ tool_calls: [{ index: 0, function: { arguments: call.json.slice(half) } }] }),
    delta({}, 'tool_calls'),
  ];
  if (includeUsage && !d.usageNone) frames.push(chunk([], usage));
  frames.push('data: [DONE]\n\n');
  ex.sendStream(200, frames, d.chunkMs, d.cut);
}

// ---------------------------------------------------------------- embeddings

export function embeddings(ex: Exchange, body: Obj, d: Readonly<Directives>): void {
  if (d.moderation !== '') {
    ex.sendError(openaiError(400, 'Your request was rejected as a result of our safety system.', 'invalid_request_error', 'content_policy_violation', 'input'), 'moderation');
    return;
  }
  const model = ex.model !== '' ? ex.model : 'text-embedding-3-small';
  const raw = body.input;
  const inputs: string[] = [];
  let chars = 0;
  let tokenIds = 0;
  if (typeof raw === 'string') {
    inputs.push(raw);
    chars += raw.length;
  } else if (Array.isArray(raw)) {
    if (raw.length > 0 && typeof raw[0] === 'number') {
      inputs.push(raw.join(','));
      tokenIds += raw.length;
    } else {
      for (const item of raw) {
        if (typeof item === 'string') {
          inputs.push(item);
          chars += item.length;
        } else if (Array.isArray(item)) {
          inputs.push(item.join(','));
          tokenIds += item.length;
        }
      }
    }
  }
  if (inputs.length === 0) {
    ex.sendError(openaiError(400, "'input' is a required property", 'invalid_request_error', null, 'input'));
    return;
  }
  const dimsReq = int(body.dimensions);
  const dims = dimsReq !== undefined && dimsReq > 0 && dimsReq <= 8192 ? dimsReq : DEFAULT_EMBEDDING_DIMENSIONS;
  const base64 = body.encoding_format === 'base64';
  const tokens = Math.max(1, (chars > 0 ? Math.ceil(chars / 4) : 0) + tokenIds);
  const data = new Array(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const v = embeddingVector(inputs[i], dims);
    data[i] = {
      object: 'embedding',
      index: i,
      embedding: base64 ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v),
    };
  }
  const res: Obj = { object: 'list', data, model };
  if (!d.usageNone) res.usage = { prompt_tokens: tokens, total_tokens: tokens };
  sendBody(ex, d, res);
}

// ---------------------------------------------------------------- images

/** gpt-image-1 output tokens per image, by quality and size. */
function imageOutputTokens(quality: string, size: string): number {
  const q = quality === 'low' ? 0 : quality === 'high' ? 2 : 1;
  if (size === '1024x1536') return [408, 1584, 6240][q];
  if (size === '1536x1024') return [400, 1568, 6208][q];
  return [272, 1056, 4160][q];
}

/** Input image tokens charged per image file on /v1/images/edits (a fixed simulator choice). */
export const EDIT_INPUT_IMAGE_TOKENS = 256;

export interface ImageRequest {
  model: string;
  prompt: string;
  n: number | undefined;
  size: string | undefined;
  quality: string | undefined;
  responseFormat: string | undefined;
  inputImages: number;
}

export function imageRequestFromJson(body: Obj): ImageRequest {
  let inputImages = 0;
  if (Array.isArray(body.images)) inputImages = body.images.length;
  else if (body.image !== undefined) inputImages = Array.isArray(body.image) ? body.image.length : 1;
  return {
    model: str(body.model) ?? '',
    prompt: str(body.prompt) ?? '',
    n: int(body.n),
    size: str(body.size),
    quality: str(body.quality),
    responseFormat: str(body.response_format),
    inputImages,
  };
}

export function images(ex: Exchange, r: ImageRequest, d: Readonly<Directives>): void {
  const model = r.model !== '' ? r.model : 'gpt-image-1';
  const gptImage = model.includes('gpt-image');
  if (d.moderation !== '') {
    ex.sendError(gptImage
      ? openaiError(400, `Your request was rejected by the safety system. If you believe this is an error, contact us at help.openai.com and include the request ID ${ex.requestId}.`, 'image_generation_user_error', 'moderation_blocked')
      : openaiError(400, 'Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.', 'invalid_request_error', 'content_policy_violation'),
    'moderation');
    return;
  }
  const count = d.images >= 0 ? d.images : r.n !== undefined && r.n >= 1 ? Math.min(r.n, 10) : 1;
  const size = r.size === undefined || r.size === 'auto' ? '1024x1024' : r.size;
  const quality = r.quality === undefined || r.quality === 'auto'
    ? (gptImage ? 'medium' : 'standard')
    : r.quality;
  const asUrl = r.responseFormat === 'url' || (r.responseFormat === undefined && !gptImage);
  const created = nowSeconds();
  const id = newId('img_');
  const data = new Array(count);
  for (let i = 0; i < count; i++) {
    data[i] = asUrl ? { url: `${ex.ctx.baseUrl}/_sim/image.png?id=${id}-${i}` } : { b64_json: PNG_BASE64 };
    if (model === 'dall-e-3') (data[i] as Obj).revised_prompt = r.prompt;
  }
  const res: Obj = { created, data };
  if (gptImage) {
    res.background = 'opaque';
    res.output_format = 'png';
    res.quality = quality;
    res.size = size;
    if (!d.usageNone) {
      const text = promptTokens(r.prompt.length);
      const img = r.inputImages * EDIT_INPUT_IMAGE_TOKENS;
      const out = count * imageOutputTokens(quality, size);
      res.usage = {
        input_tokens: text + img,
        input_tokens_details: { text_tokens: text, image_tokens: img },
        output_tokens: out,
        total_tokens: text + img + out,
      };
    }
  }
  const slowMs = d.slowImageS * 1000;
  ex.simulatedMs += slowMs;
  ex.after(slowMs, () => sendBody(ex, d, res, ['x-sim-image-size', size, 'x-sim-image-count', String(count)]));
}

// ---------------------------------------------------------------- multipart (images/edits)

const BOUNDARY_RE = /boundary=(?:"([^"]+)"|([^;\s]+))/i;
const NAME_RE = /(?:^|;)\s*name="([^"]*)"/i;
const FILENAME_RE = /filename="([^"]*)"/i;

export interface Multipart {
  fields: Map<string, string>;
  files: { name: string; filename: string; size: number }[];
}

/** Minimal multipart/form-data reader: text fields and file sizes. */
export function parseMultipart(buf: Buffer, contentType: string): Multipart | null {
  const m = BOUNDARY_RE.exec(contentType);
  if (m === null) return null;
  const boundary = Buffer.from('--' + (m[1] ?? m[2]), 'latin1');
  const out: Multipart = { fields: new Map(), files: [] };
  let pos = buf.indexOf(boundary);
  while (pos >= 0) {
    let start = pos + boundary.length;
    if (buf[start] === 0x2d && buf[start + 1] === 0x2d) break; // closing delimiter
    if (buf[start] === 0x0d) start++;
    if (buf[start] === 0x0a) start++;
    const next = buf.indexOf(boundary, start);
    if (next < 0) break;
    let end = next;
    if (buf[end - 1] === 0x0a) end--;
    if (buf[end - 1] === 0x0d) end--;
    const headerEnd = buf.indexOf('\r\n\r\n', start);
    if (headerEnd >= 0 && headerEnd <= end) {
      const headers = buf.toString('utf8', start, headerEnd);
      const name = NAME_RE.exec(headers);
      const filename = FILENAME_RE.exec(headers);
      const valueStart = headerEnd + 4;
      if (name !== null) {
        if (filename !== null) out.files.push({ name: name[1], filename: filename[1], size: Math.max(0, end - valueStart) });
        else out.fields.set(name[1], buf.toString('utf8', valueStart, Math.max(valueStart, end)));
      }
    }
    pos = next;
  }
  return out;
}

export function imageRequestFromMultipart(mp: Multipart): ImageRequest {
  const f = mp.fields;
  let inputImages = 0;
  for (const file of mp.files) if (file.name === 'image' || file.name.startsWith('image[')) inputImages++;
  return {
    model: f.get('model') ?? '',
    prompt: f.get('prompt') ?? '',
    n: int(f.get('n')),
    size: f.get('size'),
    quality: f.get('quality'),
    responseFormat: f.get('response_format'),
    inputImages,
  };
}
