// The official OpenAI Node SDK through the relay, to the mock upstream.
//
// tests/node/run.sh starts the servers and runs this twice:
//
//   node smoke.mjs demo URL                 relay demo at URL
//   node smoke.mjs two-ports CHAT BRIDGE    relay serve --routes routes.d --routes examples/two-ports,
//                                           its two ports, in front of the mock upstream that
//                                           requires CLIENT_KEY (the key must pass through)
//
// Prints one line per check, then "N passed, M failed"; exits 1 on any failure.

import OpenAI, { toFile } from "openai";

const [mode, ...urls] = process.argv.slice(2);
const CLIENT_KEY = process.env.CLIENT_KEY || "sk-node-client";
const PROMPT = "Say hello to the relay";
const ECHO = `Hello from the mock upstream! You said: ${PROMPT}`;
const MESSAGES = [{ role: "user", content: PROMPT }];

const client = (baseURL, apiKey = CLIENT_KEY) => new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });

function expect(condition, what) {
  if (!condition) throw new Error(what);
}

async function ids(api) {
  const ids = [];
  for await (const model of api.models.list()) ids.push(model.id);
  return ids;
}

/// Streams a chat completion: the text, the reasoning text and the order in which they came.
async function streamChat(api, extra = {}) {
  const stream = await api.chat.completions.create({ model: "gpt-5-mini", messages: MESSAGES, stream: true, ...extra });
  let text = "", reasoning = "", order = "", done = false;
  for await (const chunk of stream) {
    expect(chunk.object === "chat.completion.chunk", `chunk object ${chunk.object}`);
    for (const choice of chunk.choices) {
      if (choice.delta.reasoning_content) { reasoning += choice.delta.reasoning_content; order += "r"; }
      if (choice.delta.content) { text += choice.delta.content; order += "c"; }
      if (choice.finish_reason) done = true;
    }
  }
  expect(done, "no chunk had a finish_reason");
  return { text, reasoning, order };
}

async function chatChecks(api, checks, name) {
  checks.push([`${name}: chat`, async () => {
    const answer = await api.chat.completions.create({ model: "gpt-4o-mini", messages: MESSAGES });
    expect(answer.choices[0].message.content === ECHO, `content ${JSON.stringify(answer.choices[0].message)}`);
  }]);
  checks.push([`${name}: streamed chat`, async () => {
    const { text } = await streamChat(api);
    expect(text === ECHO, `streamed ${JSON.stringify(text)}`);
  }]);
  checks.push([`${name}: embeddings`, async () => {
    const answer = await api.embeddings.create({ model: "text-embedding-3-small", input: ["a", "b"] });
    expect(answer.data.length === 2, `${answer.data.length} embeddings`);
    expect(answer.data[0].embedding.length === 16, `dimension ${answer.data[0].embedding.length}`);
  }]);
}

function demoChecks(base) {
  const api = client(`${base}/v1`);
  const checks = [];
  checks.push(["models", async () => {
    const list = await ids(api);
    expect(list.includes("gpt-4o-mini"), `models ${list}`);
  }]);
  chatChecks(api, checks, "demo");
  checks.push(["file upload and content", async () => {
    const file = await api.files.create({ file: await toFile(Buffer.from("hello from node\n"), "hello.txt"), purpose: "assistants" });
    expect(file.filename === "hello.txt" && file.bytes === 16, `file ${JSON.stringify(file)}`);
    const content = await (await api.files.content(file.id)).text();
    expect(content === "hello from node\n", `content ${JSON.stringify(content)}`);
  }]);
  const bridge = client(`${base}/v1/bridge`);
  checks.push(["bridge at base URL /v1/bridge: models and chat", async () => {
    const list = await ids(bridge);
    expect(list.includes("gpt-5-mini") && !list.includes("text-embedding-3-small"), `bridge models ${list}`);
    const answer = await bridge.chat.completions.create({ model: "gpt-5-mini", messages: MESSAGES });
    expect(answer.object === "chat.completion" && answer.choices[0].message.content === ECHO, JSON.stringify(answer));
  }]);
  return checks;
}

function twoPortsChecks(chatBase, bridgeBase) {
  const chat = client(`${chatBase}/v1`);
  const bridge = client(`${bridgeBase}/v1`);
  const checks = [];
  checks.push(["5101 models: no Codex models", async () => {
    const list = await ids(chat);
    expect(list.includes("gpt-5-mini") && !list.some((id) => id.includes("codex")), `models ${list}`);
    try {
      await chat.models.retrieve("gpt-5-codex");
      throw new Error("a Codex model was found");
    } catch (e) {
      expect(e instanceof OpenAI.NotFoundError && e.code === "model_not_found", `got ${e}`);
    }
  }]);
  checks.push(["5102 models: only Codex models", async () => {
    const list = await ids(bridge);
    expect(list.length > 0 && list.every((id) => id.includes("codex")), `models ${list}`);
  }]);
  checks.push(["5101: the client's own key passes through (a wrong one is refused upstream)", async () => {
    try {
      await client(`${chatBase}/v1`, "sk-wrong").chat.completions.create({ model: "gpt-4o-mini", messages: MESSAGES });
      throw new Error("a wrong key was accepted");
    } catch (e) {
      expect(e instanceof OpenAI.AuthenticationError, `got ${e}`);
    }
  }]);
  chatChecks(chat, checks, "5101");
  checks.push(["5102: embeddings pass through", async () => {
    const answer = await bridge.embeddings.create({ model: "text-embedding-3-small", input: "a" });
    expect(answer.data.length === 1, JSON.stringify(answer));
  }]);
  checks.push(["5102 bridge without tools: reasoning summary, then the answer", async () => {
    const answer = await bridge.chat.completions.create({ model: "gpt-5-mini", messages: MESSAGES });
    const message = answer.choices[0].message;
    expect(message.content === ECHO, `content ${JSON.stringify(message)}`);
    expect(typeof message.reasoning_content === "string" && message.reasoning_content.length > 0, `no reasoning in ${JSON.stringify(message)}`);
    const { text, reasoning, order } = await streamChat(bridge);
    expect(text === ECHO && reasoning.length > 0, `streamed ${JSON.stringify({ text, reasoning })}`);
    expect(/^r+c+$/.test(order), `reasoning must come before content: ${order}`);
  }]);
  checks.push(["5102 bridge with client tools: no added reasoning", async () => {
    const tools = [{ type: "function", function: { name: "lookup", parameters: { type: "object", properties: {} } } }];
    const answer = await bridge.chat.completions.create({ model: "gpt-5-mini", messages: MESSAGES, tools });
    expect(answer.choices[0].message.content === ECHO, JSON.stringify(answer));
    expect(!answer.choices[0].message.reasoning_content, `reasoning ${answer.choices[0].message.reasoning_content}`);
    const { text, reasoning } = await streamChat(bridge, { tools });
    expect(text === ECHO && reasoning === "", `streamed ${JSON.stringify({ text, reasoning })}`);
  }]);
  return checks;
}

const checks = mode === "demo" ? demoChecks(urls[0]) : mode === "two-ports" ? twoPortsChecks(urls[0], urls[1]) : null;
if (!checks || urls.some((url) => !url)) {
  console.error("usage: node smoke.mjs demo URL | node smoke.mjs two-ports CHAT_URL BRIDGE_URL");
  process.exit(2);
}
let passed = 0, failed = 0;
for (const [name, check] of checks) {
  try {
    await check();
    passed += 1;
    console.log(`PASS ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}
console.log(`${mode}: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
