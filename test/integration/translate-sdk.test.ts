// Any model through any API, proven with the official SDKs (only the base URL and the key
// changed): the OpenAI SDK calls Claude and Gemini, the Anthropic SDK calls GPT and Gemini, the
// Gemini SDK calls Claude, and the OpenAI SDK's Responses API calls GPT — streaming and not, tool
// call round trips, image input. Each checks the content, the usage the SDK reports, and the
// charge: the row is priced from the UPSTREAM's usage at the model's price, records both APIs, and
// its ledger transaction moves exactly that amount.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { startTestGateway, tokenCost, usd, type Customer, type TestGateway } from '../helpers/gateway.ts';

const CLAUDE = 'claude-sonnet-5-5';
const GEMINI = 'gemini-2.5-flash';
const GPT = 'gpt-4o-mini';
// Demo prices, USD per 1M tokens (input, cached input, output).
const PRICE = { [CLAUDE]: ['3', '0.30', '15'], [GEMINI]: ['0.30', '0.30', '2.50'], [GPT]: ['0.15', '0.075', '0.60'] } as const;
type Model = keyof typeof PRICE;

/** The charge computed here, independently, from the usage the SDK reported in the caller's terms. */
function cost(model: Model, input: number, output: number, cached = 0): bigint {
  const [i, c, o] = PRICE[model];
  return tokenCost(input - cached, i) + tokenCost(cached, c) + tokenCost(output, o);
}

const WEATHER_SCHEMA = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
const OPENAI_TOOLS: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: WEATHER_SCHEMA } }];
const ANTHROPIC_TOOLS: Anthropic.Tool[] = [{ name: 'get_weather', description: 'Weather of a city', input_schema: WEATHER_SCHEMA as Anthropic.Tool.InputSchema }];
/** A 1×1 PNG. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';

describe('translation through the official SDKs', () => {
  let g: TestGateway;
  let c: Customer;
  let openai: OpenAI;
  let anthropic: Anthropic;
  let gemini: GoogleGenAI;

  before(async () => {
    g = await startTestGateway();
    c = await g.customer('10.00');
    openai = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: c.key, maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: g.url, apiKey: c.key, maxRetries: 0 });
    gemini = new GoogleGenAI({ apiKey: c.key, httpOptions: { baseUrl: g.url } });
  });
  after(async () => {
    await g?.close();
  });

  /** The settled row: ok, both APIs recorded, charged `amount`, and the ledger moved exactly that. */
  const charged = async (requestId: string | null | undefined, expect: { model: Model; caller: string; upstream: string; endpoint: string; stream: boolean; amount: bigint }) => {
    await g.settle();
    const row = await g.log(String(requestId));
    assert.equal(row.outcome, 'ok', JSON.stringify(row));
    assert.equal(row.account_id, c.accountId);
    assert.equal(row.model, expect.model);
    assert.equal(row.endpoint, expect.endpoint);
    assert.equal(row.provider, expect.caller, 'the caller API');
    assert.equal(row.upstream_provider, expect.upstream, 'the upstream API');
    assert.equal(row.stream, expect.stream);
    assert.equal(row.usage_estimated, false, 'billed from the upstream usage, not an estimate');
    assert.equal(usd(row.amount), expect.amount, `charge of ${expect.model}: ${JSON.stringify(row.usage_billable)}`);
    // Charges are group-committed: one ledger transaction moves the sum of its batch's rows.
    const entry = (await g.ledger(c.accountId)).find((e: { tx_id: string }) => e.tx_id === row.tx_id);
    assert.ok(entry, `ledger transaction ${row.tx_id}`);
    const batch = (await g.logsOfKey(c.keyId)).filter((r: { tx_id: string }) => r.tx_id === row.tx_id);
    assert.equal(usd(entry.amount), -batch.reduce((s: bigint, r: { amount: string }) => s + usd(r.amount), 0n), 'the ledger moved the charges of its batch, this one among them');
    return row;
  };
  const lastSimBody = () => g.s.sim!.requests().at(-1)!;

  describe('openai SDK → Claude (Anthropic channel)', () => {
    test('chat.completions.create: content, usage with cached tokens, charge at Claude prices', async () => {
      const { data, request_id } = await openai.chat.completions
        .create({ model: CLAUDE, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello Claude from the OpenAI SDK [[sim:tokens=5]] [[sim:cached=40]]' }], max_tokens: 100, temperature: 0.5, stop: ['\n\n'] })
        .withResponse();
      assert.equal(data.object, 'chat.completion');
      assert.equal(data.model, CLAUDE);
      assert.equal(data.choices[0]!.message.content, 'lorem ipsum dolor sit amet ');
      assert.equal(data.choices[0]!.finish_reason, 'stop');
      assert.equal(data.usage!.completion_tokens, 5);
      assert.equal(data.usage!.prompt_tokens_details!.cached_tokens, 40);
      const sent = lastSimBody();
      assert.equal(sent.path, '/v1/messages', 'sent to Anthropic as a Messages request');
      await charged(request_id, { model: CLAUDE, caller: 'openai', upstream: 'anthropic', endpoint: 'chat', stream: false, amount: cost(CLAUDE, data.usage!.prompt_tokens, 5, 40) });
    });

    test('chat.completions stream: deltas, finish and the final usage chunk', async () => {
      const { data: stream, request_id } = await openai.chat.completions
        .create({ model: CLAUDE, messages: [{ role: 'user', content: 'Stream from Claude [[sim:tokens=7]]' }], stream: true, stream_options: { include_usage: true } })
        .withResponse();
      let text = '';
      let finish: string | null = null;
      let usage: OpenAI.CompletionUsage | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta?.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (chunk.usage) usage = chunk.usage;
      }
      assert.equal(text.trim().split(/\s+/).length, 7);
      assert.equal(finish, 'stop');
      assert.ok(usage);
      assert.equal(usage.completion_tokens, 7);
      await charged(request_id, { model: CLAUDE, caller: 'openai', upstream: 'anthropic', endpoint: 'chat', stream: true, amount: cost(CLAUDE, usage.prompt_tokens, 7) });
    });

    test('a tool call round trip: tool_calls, then the tool result answered in text', async () => {
      const first = await openai.chat.completions.create({ model: CLAUDE, tools: OPENAI_TOOLS, messages: [{ role: 'user', content: 'Weather in Paris? [[sim:tool]]' }] });
      const msg = first.choices[0]!.message;
      assert.equal(first.choices[0]!.finish_reason, 'tool_calls');
      const call = msg.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
      assert.equal(call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.function.arguments), { city: 'lorem' });
      const { data, request_id } = await openai.chat.completions
        .create({
          model: CLAUDE,
          tools: OPENAI_TOOLS,
          messages: [{ role: 'user', content: 'Weather in Paris? [[sim:tool]]' }, msg, { role: 'tool', tool_call_id: call.id, content: '{"temperature":21}' }],
        })
        .withResponse();
      // The simulator answers in text only when the conversation ends with an Anthropic tool_result block.
      assert.equal(data.choices[0]!.finish_reason, 'stop');
      assert.ok((data.choices[0]!.message.content ?? '').length > 0);
      await charged(request_id, { model: CLAUDE, caller: 'openai', upstream: 'anthropic', endpoint: 'chat', stream: false, amount: cost(CLAUDE, data.usage!.prompt_tokens, data.usage!.completion_tokens) });
    });

    test('a streamed tool call: tool-call deltas add up to the arguments', async () => {
      const stream = await openai.chat.completions.create({ model: CLAUDE, tools: OPENAI_TOOLS, stream: true, messages: [{ role: 'user', content: 'Weather? [[sim:tool]]' }] });
      let args = '';
      let name = '';
      let finish: string | null = null;
      for await (const chunk of stream) {
        for (const tc of chunk.choices[0]?.delta?.tool_calls ?? []) {
          name += tc.function?.name ?? '';
          args += tc.function?.arguments ?? '';
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      assert.equal(name, 'get_weather');
      assert.deepEqual(JSON.parse(args), { city: 'lorem' });
      assert.equal(finish, 'tool_calls');
    });

    test('an image input (base64 data URL) becomes an Anthropic image block', async () => {
      const { data, request_id } = await openai.chat.completions
        .create({ model: CLAUDE, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }, { type: 'text', text: 'What is this? [[sim:tokens=3]]' }] }] })
        .withResponse();
      assert.equal(data.choices[0]!.message.content, 'lorem ipsum dolor ');
      assert.match(lastSimBody().body, /"content":\[\{"type":"image","source":\{"type":"base64","media_type":"image\/png","data":"iVBOR/);
      await charged(request_id, { model: CLAUDE, caller: 'openai', upstream: 'anthropic', endpoint: 'chat', stream: false, amount: cost(CLAUDE, data.usage!.prompt_tokens, 3) });
    });
  });

  describe('openai SDK → Gemini (Gemini channel)', () => {
    test('chat.completions.create with reasoning tokens reported as completion_tokens_details', async () => {
      const { data, request_id } = await openai.chat.completions
        .create({ model: GEMINI, messages: [{ role: 'user', content: 'Think, Gemini [[sim:tokens=4]] [[sim:reasoning=6]]' }] })
        .withResponse();
      assert.equal(data.choices[0]!.message.content, 'lorem ipsum dolor sit ');
      assert.equal(data.usage!.completion_tokens, 10, 'thoughts are output');
      assert.equal(data.usage!.completion_tokens_details!.reasoning_tokens, 6);
      assert.match(lastSimBody().path, /^\/v1beta\/models\/gemini-2\.5-flash:generateContent$/);
      const row = await charged(request_id, { model: GEMINI, caller: 'openai', upstream: 'gemini', endpoint: 'chat', stream: false, amount: cost(GEMINI, data.usage!.prompt_tokens, 10) });
      assert.equal(row.usage_raw.thoughtsTokenCount, 6, 'the raw usage is the upstream’s, verbatim');
    });

    test('stream, a tool call round trip and an image input', async () => {
      const { data: stream, request_id } = await openai.chat.completions.create({ model: GEMINI, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Stream, Gemini [[sim:tokens=5]]' }] }).withResponse();
      let text = '';
      let usage: OpenAI.CompletionUsage | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta?.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
      assert.equal(text, 'lorem ipsum dolor sit amet ');
      assert.equal(usage?.completion_tokens, 5);
      await charged(request_id, { model: GEMINI, caller: 'openai', upstream: 'gemini', endpoint: 'chat', stream: true, amount: cost(GEMINI, usage!.prompt_tokens, 5) });

      const first = await openai.chat.completions.create({ model: GEMINI, tools: OPENAI_TOOLS, messages: [{ role: 'user', content: 'Weather? [[sim:tool]]' }] });
      const call = first.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
      assert.equal(first.choices[0]!.finish_reason, 'tool_calls');
      assert.equal(call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.function.arguments), { city: 'lorem' });
      const second = await openai.chat.completions.create({
        model: GEMINI,
        tools: OPENAI_TOOLS,
        messages: [{ role: 'user', content: 'Weather? [[sim:tool]]' }, first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: 'sunny' }],
      });
      // Answered in text: the simulator saw a Gemini functionResponse (matched to the call by name).
      assert.equal(second.choices[0]!.finish_reason, 'stop');

      const img = await openai.chat.completions.create({ model: GEMINI, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }, { type: 'text', text: 'What is it?' }] }] });
      assert.ok((img.choices[0]!.message.content ?? '').length > 0);
      assert.match(lastSimBody().body, /"parts":\[\{"inlineData":\{"mimeType":"image\/png","data":"iVBOR/);
    });
  });

  describe('anthropic SDK → GPT (OpenAI channel) and Gemini', () => {
    test('messages.create to gpt-4o-mini: content, usage, charge at GPT prices', async () => {
      const { data, request_id } = await anthropic.messages
        .create({ model: GPT, max_tokens: 300, system: 'Be brief.', messages: [{ role: 'user', content: 'Hello GPT from the Anthropic SDK [[sim:tokens=6]] [[sim:cached=20]]' }] })
        .withResponse();
      assert.equal(data.type, 'message');
      assert.equal(data.model, GPT);
      assert.equal(data.stop_reason, 'end_turn');
      const block = data.content[0]!;
      assert.ok(block.type === 'text' && block.text === 'lorem ipsum dolor sit amet consectetur ');
      assert.equal(data.usage.output_tokens, 6);
      assert.equal(data.usage.cache_read_input_tokens, 20, 'OpenAI cached tokens are Anthropic cache reads');
      assert.equal(lastSimBody().path, '/v1/chat/completions');
      const input = data.usage.input_tokens + 20;
      await charged(request_id, { model: GPT, caller: 'anthropic', upstream: 'openai', endpoint: 'messages', stream: false, amount: cost(GPT, input, 6, 20) });
    });

    test('messages.stream to gpt-4o-mini: text events, finalMessage usage', async () => {
      const stream = anthropic.messages.stream({ model: GPT, max_tokens: 300, messages: [{ role: 'user', content: 'Stream, GPT [[sim:tokens=8]]' }] });
      let text = '';
      stream.on('text', (t) => (text += t));
      const final = await stream.finalMessage();
      assert.equal(text.trim().split(/\s+/).length, 8);
      assert.equal(final.stop_reason, 'end_turn');
      assert.equal(final.usage.output_tokens, 8);
      assert.ok(final.usage.input_tokens > 0, 'input tokens arrive with message_delta');
      const { request_id } = await stream.withResponse();
      await charged(request_id, { model: GPT, caller: 'anthropic', upstream: 'openai', endpoint: 'messages', stream: true, amount: cost(GPT, final.usage.input_tokens, 8) });
    });

    test('tool use round trip to gpt-4o-mini, and a streamed tool use', async () => {
      const first = await anthropic.messages.create({ model: GPT, max_tokens: 300, tools: ANTHROPIC_TOOLS, messages: [{ role: 'user', content: 'Weather in Oslo? [[sim:tool]]' }] });
      assert.equal(first.stop_reason, 'tool_use');
      const use = first.content.find((b) => b.type === 'tool_use');
      assert.ok(use && use.type === 'tool_use');
      assert.equal(use.name, 'get_weather');
      assert.deepEqual(use.input, { city: 'lorem' });
      const { data, request_id } = await anthropic.messages
        .create({
          model: GPT,
          max_tokens: 300,
          tools: ANTHROPIC_TOOLS,
          messages: [
            { role: 'user', content: 'Weather in Oslo? [[sim:tool]]' },
            { role: 'assistant', content: first.content },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '12 degrees' }] },
          ],
        })
        .withResponse();
      // Answered in text: the simulator saw an OpenAI tool message last.
      assert.equal(data.stop_reason, 'end_turn');
      await charged(request_id, { model: GPT, caller: 'anthropic', upstream: 'openai', endpoint: 'messages', stream: false, amount: cost(GPT, data.usage.input_tokens, data.usage.output_tokens) });

      const stream = anthropic.messages.stream({ model: GPT, max_tokens: 300, tools: ANTHROPIC_TOOLS, messages: [{ role: 'user', content: 'Weather? [[sim:tool]]' }] });
      const final = await stream.finalMessage();
      assert.equal(final.stop_reason, 'tool_use');
      const streamed = final.content.find((b) => b.type === 'tool_use');
      assert.ok(streamed && streamed.type === 'tool_use');
      assert.deepEqual(streamed.input, { city: 'lorem' }, 'input_json_delta pieces parse to the arguments');
    });

    test('messages to gemini-2.5-flash: JSON, stream and tool use', async () => {
      const { data, request_id } = await anthropic.messages.create({ model: GEMINI, max_tokens: 300, messages: [{ role: 'user', content: 'Hello Gemini [[sim:tokens=4]]' }] }).withResponse();
      assert.ok(data.content[0]!.type === 'text' && data.content[0]!.text === 'lorem ipsum dolor sit ');
      assert.equal(data.usage.output_tokens, 4);
      await charged(request_id, { model: GEMINI, caller: 'anthropic', upstream: 'gemini', endpoint: 'messages', stream: false, amount: cost(GEMINI, data.usage.input_tokens, 4) });

      const stream = anthropic.messages.stream({ model: GEMINI, max_tokens: 300, messages: [{ role: 'user', content: 'Stream, Gemini [[sim:tokens=6]]' }] });
      let text = '';
      stream.on('text', (t) => (text += t));
      const final = await stream.finalMessage();
      assert.equal(text, 'lorem ipsum dolor sit amet consectetur ');
      assert.equal(final.usage.output_tokens, 6);
      const { request_id: sid } = await stream.withResponse();
      await charged(sid, { model: GEMINI, caller: 'anthropic', upstream: 'gemini', endpoint: 'messages', stream: true, amount: cost(GEMINI, final.usage.input_tokens, 6) });

      const tool = await anthropic.messages.create({ model: GEMINI, max_tokens: 300, tools: ANTHROPIC_TOOLS, messages: [{ role: 'user', content: 'Weather? [[sim:tool]]' }] });
      assert.equal(tool.stop_reason, 'tool_use');
      const use = tool.content.find((b) => b.type === 'tool_use');
      assert.ok(use && use.type === 'tool_use' && use.name === 'get_weather');
      const answer = await anthropic.messages.create({
        model: GEMINI,
        max_tokens: 300,
        tools: ANTHROPIC_TOOLS,
        messages: [{ role: 'user', content: 'Weather? [[sim:tool]]' }, { role: 'assistant', content: tool.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'rain' }] }],
      });
      assert.equal(answer.stop_reason, 'end_turn');
    });
  });

  describe('@google/genai → Claude', () => {
    test('generateContent and generateContentStream on an Anthropic channel', async () => {
      const r = await gemini.models.generateContent({ model: CLAUDE, contents: 'Hello Claude from the Gemini SDK [[sim:tokens=3]]' });
      assert.equal(r.text, 'lorem ipsum dolor ');
      assert.equal(r.usageMetadata?.candidatesTokenCount, 3);
      assert.equal(r.candidates?.[0]?.finishReason, 'STOP');
      let text = '';
      let last: number | undefined;
      for await (const chunk of await gemini.models.generateContentStream({ model: CLAUDE, contents: 'Stream [[sim:tokens=4]]' })) {
        text += chunk.text ?? '';
        last = chunk.usageMetadata?.candidatesTokenCount ?? last;
      }
      assert.equal(text, 'lorem ipsum dolor sit ');
      assert.equal(last, 4);
    });
  });

  describe("openai SDK's Responses API → gpt-4o-mini", () => {
    test('responses.create: output_text, usage with cached and reasoning tokens, charge', async () => {
      const { data, request_id } = await openai.responses.create({ model: GPT, instructions: 'Be brief.', input: 'Hello Responses [[sim:tokens=5]] [[sim:cached=10]] [[sim:reasoning=2]]' }).withResponse();
      assert.equal(data.status, 'completed');
      assert.equal(data.output_text, 'lorem ipsum dolor sit amet ');
      assert.equal(data.usage!.output_tokens, 7);
      assert.equal(data.usage!.output_tokens_details.reasoning_tokens, 2);
      assert.equal(data.usage!.input_tokens_details.cached_tokens, 10);
      const row = await charged(request_id, { model: GPT, caller: 'openai', upstream: 'openai', endpoint: 'responses', stream: false, amount: cost(GPT, data.usage!.input_tokens, 7, 10) });
      assert.deepEqual(row.usage_raw, JSON.parse(JSON.stringify(data.usage)), 'raw usage kept verbatim');
    });

    test('responses.create stream: text deltas and response.completed with usage', async () => {
      const { data: stream, request_id } = await openai.responses.create({ model: GPT, input: 'Stream a response [[sim:tokens=6]]', stream: true }).withResponse();
      let text = '';
      let usage: OpenAI.Responses.ResponseUsage | undefined;
      const types = new Set<string>();
      for await (const ev of stream) {
        types.add(ev.type);
        if (ev.type === 'response.output_text.delta') text += ev.delta;
        if (ev.type === 'response.completed') usage = ev.response.usage ?? undefined;
      }
      assert.equal(text, 'lorem ipsum dolor sit amet consectetur ');
      assert.ok(types.has('response.created') && types.has('response.output_item.done'));
      assert.equal(usage?.output_tokens, 6);
      await charged(request_id, { model: GPT, caller: 'openai', upstream: 'openai', endpoint: 'responses', stream: true, amount: cost(GPT, usage!.input_tokens, 6) });
    });
  });

  describe("openai SDK's Responses API → Claude and Gemini (translated)", () => {
    test('responses.create to Claude: output_text, usage in Responses terms, charge at Claude prices', async () => {
      const { data, request_id } = await openai.responses.create({ model: CLAUDE, instructions: 'Be brief.', input: 'Hello Claude via Responses [[sim:tokens=4]] [[sim:cached=30]]', max_output_tokens: 200 }).withResponse();
      assert.equal(data.object, 'response');
      assert.equal(data.status, 'completed');
      assert.equal(data.output_text, 'lorem ipsum dolor sit ');
      assert.equal(data.usage!.output_tokens, 4);
      assert.equal(data.usage!.input_tokens_details.cached_tokens, 30);
      assert.equal(lastSimBody().path, '/v1/messages');
      await charged(request_id, { model: CLAUDE, caller: 'openai', upstream: 'anthropic', endpoint: 'responses', stream: false, amount: cost(CLAUDE, data.usage!.input_tokens, 4, 30) });
    });

    test('responses.create stream to Gemini: the Responses event sequence, and a function call round trip', async () => {
      const { data: stream, request_id } = await openai.responses.create({ model: GEMINI, input: 'Stream via Responses [[sim:tokens=3]]', stream: true }).withResponse();
      const types: string[] = [];
      let text = '';
      let usage: OpenAI.Responses.ResponseUsage | undefined;
      for await (const ev of stream) {
        types.push(ev.type);
        if (ev.type === 'response.output_text.delta') text += ev.delta;
        if (ev.type === 'response.completed') usage = ev.response.usage ?? undefined;
      }
      assert.equal(text, 'lorem ipsum dolor ');
      assert.deepEqual([types[0], types[1], types.at(-1)], ['response.created', 'response.in_progress', 'response.completed']);
      assert.ok(types.includes('response.output_item.added') && types.includes('response.content_part.done') && types.includes('response.output_item.done'));
      assert.equal(usage?.output_tokens, 3);
      await charged(request_id, { model: GEMINI, caller: 'openai', upstream: 'gemini', endpoint: 'responses', stream: true, amount: cost(GEMINI, usage!.input_tokens, 3) });

      const tools: OpenAI.Responses.FunctionTool[] = [{ type: 'function', name: 'get_weather', parameters: WEATHER_SCHEMA, strict: false }];
      const first = await openai.responses.create({ model: GEMINI, tools, input: 'Weather? [[sim:tool]]' });
      const call = first.output.find((o) => o.type === 'function_call');
      assert.ok(call && call.type === 'function_call');
      assert.equal(call.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.arguments), { city: 'lorem' });
      const second = await openai.responses.create({
        model: GEMINI,
        tools,
        input: [{ role: 'user', content: 'Weather? [[sim:tool]]' }, call, { type: 'function_call_output', call_id: call.call_id, output: 'sunny' }],
      });
      assert.equal(second.status, 'completed');
      assert.ok(second.output_text.length > 0, 'answered in text after the function output');
    });
  });

  test('every charge adds up in the ledger: balance = top-up − sum of logged amounts', async () => {
    await g.settle();
    const rows = await g.logsOfKey(c.keyId);
    const sum = rows.reduce((s: bigint, r: { amount: string }) => s + usd(r.amount), 0n);
    assert.ok(rows.every((r: { outcome: string }) => r.outcome === 'ok'), JSON.stringify(rows.filter((r: { outcome: string }) => r.outcome !== 'ok')));
    assert.ok(rows.filter((r: { provider: string; upstream_provider: string }) => r.provider !== r.upstream_provider).length >= 20, 'translated requests');
    const bal = await g.balance(c.accountId);
    assert.equal(usd(bal.paid) + usd(bal.granted), usd('10.00') - sum);
    assert.equal((await g.verify()).ok, true);
  });
});
