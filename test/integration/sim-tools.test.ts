// The simulator's tool calls ([[sim:tool]]) in each API, and its Responses API, over real HTTP.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startSimulator, type Simulator } from '../../src/sim/server.ts';

let sim: Simulator;
before(async () => {
  sim = await startSimulator({ port: 0, quiet: true });
});
after(async () => {
  await sim?.close();
});

const post = async (path: string, body: unknown) => {
  const r = await fetch(sim.url + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer k' }, body: JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, text, json: text.startsWith('{') ? JSON.parse(text) : null };
};
const schema = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' }, metric: { type: 'boolean' } } };
const ARGS = { city: 'lorem', days: 1, metric: true };

test('OpenAI chat: a tool call (JSON and streamed), then text once the conversation ends with the tool result', async () => {
  const tools = [{ type: 'function', function: { name: 'a' } }, { type: 'function', function: { name: 'weather', parameters: schema } }];
  const r = await post('/v1/chat/completions', { model: 'm', tools, messages: [{ role: 'user', content: 'hi [[sim:tool=weather]]' }] });
  const msg = r.json.choices[0].message;
  assert.equal(r.json.choices[0].finish_reason, 'tool_calls');
  assert.equal(msg.tool_calls[0].function.name, 'weather');
  assert.deepEqual(JSON.parse(msg.tool_calls[0].function.arguments), ARGS);
  const s = await post('/v1/chat/completions', { model: 'm', tools, stream: true, messages: [{ role: 'user', content: 'hi [[sim:tool]]' }] });
  const args = s.text.split('\n\n').filter((f) => f.startsWith('data: {')).map((f) => JSON.parse(f.slice(6)).choices[0]?.delta?.tool_calls?.[0]?.function?.arguments ?? '').join('');
  assert.deepEqual(JSON.parse(args), {}, 'the first tool has no parameters');
  const done = await post('/v1/chat/completions', { model: 'm', tools, messages: [{ role: 'user', content: 'hi [[sim:tool]]' }, msg, { role: 'tool', tool_call_id: msg.tool_calls[0].id, content: 'ok' }] });
  assert.equal(done.json.choices[0].finish_reason, 'stop');
  const none = await post('/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'no tools [[sim:tool]]' }] });
  assert.equal(none.json.choices[0].finish_reason, 'stop', 'no tools declared: text');
});

test('Anthropic: a tool_use block (JSON and streamed with input_json_delta); Gemini: a functionCall part', async () => {
  const tools = [{ name: 'weather', input_schema: schema }];
  const r = await post('/v1/messages', { model: 'c', max_tokens: 50, tools, messages: [{ role: 'user', content: 'hi [[sim:tool]]' }] });
  assert.equal(r.json.stop_reason, 'tool_use');
  assert.deepEqual(r.json.content[0], { type: 'tool_use', id: r.json.content[0].id, name: 'weather', input: ARGS });
  const s = await post('/v1/messages', { model: 'c', max_tokens: 50, stream: true, tools, messages: [{ role: 'user', content: 'hi [[sim:tool]]' }] });
  const json = s.text.split('\n\n').filter((f) => f.includes('input_json_delta')).map((f) => JSON.parse(f.split('data: ')[1]!).delta.partial_json).join('');
  assert.deepEqual(JSON.parse(json), ARGS);
  assert.match(s.text, /"stop_reason":"tool_use"/);
  const g = await post('/v1beta/models/gemini-2.5-flash:generateContent', { contents: [{ role: 'user', parts: [{ text: 'hi [[sim:tool]]' }] }], tools: [{ functionDeclarations: [{ name: 'weather', parametersJsonSchema: schema }] }] });
  assert.deepEqual(g.json.candidates[0].content.parts, [{ functionCall: { name: 'weather', args: ARGS } }]);
  const answered = await post('/v1beta/models/gemini-2.5-flash:generateContent', {
    contents: [{ role: 'user', parts: [{ text: 'hi [[sim:tool]]' }] }, { role: 'model', parts: [{ functionCall: { name: 'weather', args: ARGS } }] }, { role: 'user', parts: [{ functionResponse: { name: 'weather', response: { t: 1 } } }] }],
    tools: [{ functionDeclarations: [{ name: 'weather', parametersJsonSchema: schema }] }],
  });
  assert.ok(typeof answered.json.candidates[0].content.parts[0].text === 'string');
});

test('the Responses API: a response object with usage, max_output_tokens → incomplete, and the event stream', async () => {
  const r = await post('/v1/responses', { model: 'gpt-4o-mini', instructions: 'Be brief.', input: 'hello [[sim:tokens=3]] [[sim:cached=2]] [[sim:reasoning=1]]' });
  assert.equal(r.json.object, 'response');
  assert.equal(r.json.status, 'completed');
  assert.equal(r.json.output[0].content[0].text, 'lorem ipsum dolor ');
  assert.deepEqual(r.json.usage.input_tokens_details, { cached_tokens: 2 });
  assert.equal(r.json.usage.output_tokens, 4);
  assert.equal(r.json.usage.output_tokens_details.reasoning_tokens, 1);
  const cut = await post('/v1/responses', { model: 'gpt-4o-mini', input: 'long [[sim:tokens=10]]', max_output_tokens: 4 });
  assert.equal(cut.json.status, 'incomplete');
  assert.deepEqual(cut.json.incomplete_details, { reason: 'max_output_tokens' });
  const s = await post('/v1/responses', { model: 'gpt-4o-mini', input: 'stream [[sim:tokens=2]]', stream: true });
  const events = s.text.trim().split('\n\n').map((f) => f.split('\n')[0]!.slice('event: '.length));
  assert.deepEqual(events, [
    'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
    'response.output_text.delta', 'response.output_text.delta', 'response.output_text.done', 'response.content_part.done',
    'response.output_item.done', 'response.completed',
  ]);
  const call = await post('/v1/responses', { model: 'gpt-4o-mini', input: 'w [[sim:tool]]', tools: [{ type: 'function', name: 'weather', parameters: schema }] });
  assert.equal(call.json.output[0].type, 'function_call');
  assert.deepEqual(JSON.parse(call.json.output[0].arguments), ARGS);
});
