"""Smoke test: the official OpenAI Python SDK, through the relay, to the mock upstream.

tests/sdk/run.sh starts both servers and runs this with:

    RELAY_URL     the relay, e.g. http://127.0.0.1:8080 (the SDK gets RELAY_URL + "/v1")
    MOCK_URL      the mock upstream, e.g. http://127.0.0.1:4010 (optional)
    MOCK_API_KEY  the key the mock requires; the relay sends it as OPENAI_API_KEY (optional)

The SDK's own key is a client key that must never reach the upstream: when
the mock requires MOCK_API_KEY, every passing call shows that the relay
replaced it. Prints one line per check, then "N passed, M failed"; exits 1
on any failure.
"""

import os
import sys
import time
import traceback

import openai
from openai import OpenAI

RELAY_URL = os.environ.get("RELAY_URL", "http://127.0.0.1:8080").rstrip("/")
MOCK_URL = os.environ.get("MOCK_URL", "").rstrip("/")
MOCK_API_KEY = os.environ.get("MOCK_API_KEY", "")
CLIENT_KEY = "sk-client-key-that-must-not-reach-the-upstream"

# No retries: a failure should show at once, not be hidden by a second try.
client = OpenAI(base_url=f"{RELAY_URL}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30)

MODEL = "gpt-4o-mini"
PROMPT = "Say hello to the relay"
# The mock's reply echoes the last user message.
EXPECTED = f"Hello from the mock upstream! You said: {PROMPT}"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}]

# Bytes that exercise a multipart parser: every byte value, CRLFs, lines
# that look like boundaries, and enough data (~1 MiB) to arrive in chunks.
UPLOAD = bytes(range(256)) * 4 + b"\r\n--not-the-boundary\r\n\r\n" + os.urandom(1 << 20) + b"\r\n"

CHECKS = []
shared = {}  # what one check leaves for the next (the uploaded file)


def check(fn):
    CHECKS.append(fn)
    return fn


class Skip(Exception):
    """A check that cannot run here; counted neither as passed nor failed."""


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


@check
def models_list():
    ids = [model.id for model in client.models.list()]
    expect(MODEL in ids, f"{MODEL} not in {ids}")
    return f"{len(ids)} models"


@check
def models_retrieve():
    model = client.models.retrieve(MODEL)
    expect((model.id, model.object) == (MODEL, "model"), f"got {model!r}")


@check
def upstream_error_passes_unchanged():
    try:
        client.models.retrieve("no-such-model")
    except openai.NotFoundError as e:
        expect(e.status_code == 404, f"status {e.status_code}")
        expect(e.code == "model_not_found", f"code {e.code!r} (body {e.body!r})")
        expect(e.type == "invalid_request_error", f"type {e.type!r}")
        expect("no-such-model" in e.message, f"message {e.message!r}")
        return "404 model_not_found"
    raise AssertionError("no NotFoundError")


@check
def chat_completions_create():
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    expect(completion.object == "chat.completion", f"object {completion.object!r}")
    expect(completion.id.startswith("chatcmpl-"), f"id {completion.id!r}")
    choice = completion.choices[0]
    expect(choice.message.content == EXPECTED, f"content {choice.message.content!r}")
    expect(choice.finish_reason == "stop", f"finish_reason {choice.finish_reason!r}")
    expect(completion.usage and completion.usage.total_tokens > 0, f"usage {completion.usage!r}")
    return f"{completion.usage.total_tokens} tokens"


@check
def chat_completions_stream():
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks, arrivals = [], []
    for chunk in stream:
        chunks.append(chunk)
        arrivals.append(time.monotonic())
    expect(len(chunks) >= 5, f"only {len(chunks)} chunks")
    expect(all(c.object == "chat.completion.chunk" for c in chunks), "a chunk is not a chat.completion.chunk")
    expect(len({c.id for c in chunks}) == 1, "chunks carry different ids")
    with_choices = [c for c in chunks if c.choices]
    content = "".join(c.choices[0].delta.content or "" for c in with_choices)
    expect(content == EXPECTED, f"content {content!r}")
    expect(with_choices[0].choices[0].delta.role == "assistant", "first chunk has no role")
    expect(with_choices[-1].choices[0].finish_reason == "stop", "last choice chunk has no finish_reason")
    expect(chunks[-1].usage and chunks[-1].usage.total_tokens > 0, "no usage chunk at the end")
    # The mock sends one event every 20 ms: a relay that buffered the stream
    # would deliver them all at once.
    spread = arrivals[-1] - arrivals[0]
    expect(spread > 0.1, f"all chunks arrived within {spread * 1000:.0f} ms: the stream was buffered")
    return f"{len(chunks)} chunks over {spread * 1000:.0f} ms"


@check
def responses_create():
    response = client.responses.create(model=MODEL, input=PROMPT, instructions="Be brief.")
    expect(response.object == "response" and response.status == "completed", f"got {response.status!r}")
    expect(response.output_text == EXPECTED, f"output_text {response.output_text!r}")
    expect(response.usage and response.usage.total_tokens > 0, f"usage {response.usage!r}")


@check
def responses_stream():
    events = list(client.responses.create(model=MODEL, input=[{"role": "user", "content": PROMPT}], stream=True))
    kinds = [event.type for event in events]
    expect(kinds[0] == "response.created", f"first event {kinds[0]}")
    expect(kinds[-1] == "response.completed", f"last event {kinds[-1]}")
    expect([e.sequence_number for e in events] == list(range(len(events))), "sequence numbers out of order")
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    expect(deltas == EXPECTED, f"deltas {deltas!r}")
    expect(events[-1].response.output_text == EXPECTED, "completed response differs")
    # The SDK's stream helper rebuilds the response from the events.
    with client.responses.stream(model=MODEL, input=PROMPT) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    expect(final.output_text == EXPECTED, f"stream helper output {final.output_text!r}")
    return f"{len(events)} events, {kinds.count('response.output_text.delta')} deltas"


@check
def embeddings_create():
    # The SDK asks for base64 by default and decodes it; floats must match.
    encoded = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    plain = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"], encoding_format="float")
    expect(encoded.object == "list" and len(encoded.data) == 2, f"got {len(encoded.data)} embeddings")
    expect([d.index for d in encoded.data] == [0, 1], "wrong indexes")
    for a, b in zip(encoded.data, plain.data):
        expect(len(a.embedding) == len(b.embedding) > 0, "lengths differ")
        expect(all(abs(x - y) < 1e-6 for x, y in zip(a.embedding, b.embedding)), "base64 and float differ")
        expect(abs(sum(x * x for x in a.embedding) - 1) < 1e-3, "not a unit vector")
    expect(encoded.usage.total_tokens > 0, "no usage")
    return f"2 x {len(encoded.data[0].embedding)} dimensions"


@check
def files_create():
    uploaded = client.files.create(file=("smoke.jsonl", UPLOAD, "application/octet-stream"), purpose="assistants")
    shared["file"] = uploaded
    expect(uploaded.object == "file" and uploaded.id.startswith("file-"), f"got {uploaded!r}")
    expect(uploaded.bytes == len(UPLOAD), f"bytes {uploaded.bytes} != {len(UPLOAD)}")
    expect(uploaded.filename == "smoke.jsonl" and uploaded.purpose == "assistants", f"got {uploaded!r}")
    return f"{uploaded.id}, {uploaded.bytes} bytes"


@check
def files_list_and_retrieve():
    file_id = shared["file"].id
    expect(file_id in [f.id for f in client.files.list()], "uploaded file not listed")
    # The query string reaches the upstream: ?purpose= filters the list.
    expect(file_id in [f.id for f in client.files.list(purpose="assistants")], "not listed under its purpose")
    expect(file_id not in [f.id for f in client.files.list(purpose="batch")], "listed under another purpose")
    expect(client.files.retrieve(file_id).bytes == len(UPLOAD), "retrieved size differs")


@check
def files_content():
    raw = client.files.with_raw_response.content(shared["file"].id)
    expect(raw.status_code == 200, f"status {raw.status_code}")
    expect(raw.headers.get("content-type", "").startswith("application/octet-stream"), f"{raw.headers}")
    expect(raw.headers.get("content-length") == str(len(UPLOAD)), f"content-length {raw.headers.get('content-length')}")
    data = raw.parse().content
    expect(data == UPLOAD, f"downloaded {len(data)} bytes that differ from the {len(UPLOAD)} uploaded")
    return f"{len(data)} bytes, identical"


@check
def user_data_downloads_are_refused():
    # The shipped files.content route has a guard: it looks the file up and
    # refuses user_data files with 403 in the OpenAI error shape.
    private = client.files.create(file=("private.txt", b"secret", "text/plain"), purpose="user_data")
    try:
        client.files.content(private.id)
    except openai.PermissionDeniedError as error:
        expect(error.body and error.body.get("code") == "denied_by_guard", f"body {error.body!r}")
        return "403 denied_by_guard"
    finally:
        client.files.delete(private.id)
    raise AssertionError("a user_data file was downloaded")


@check
def files_delete():
    file_id = shared["file"].id
    deleted = client.files.delete(file_id)
    expect(deleted.deleted and deleted.id == file_id, f"got {deleted!r}")
    try:
        client.files.retrieve(file_id)
    except openai.NotFoundError:
        return "then 404"
    raise AssertionError("the deleted file is still there")


@check
def raw_response_is_transparent():
    # The client's request id reaches the upstream (the mock echoes it), and
    # the upstream's own headers come back unchanged.
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, extra_headers={"X-Request-Id": "smoke-req-42"}
    )
    expect(raw.status_code == 200, f"status {raw.status_code}")
    expect(raw.request_id == "smoke-req-42", f"x-request-id {raw.request_id!r}")
    expect(raw.headers.get("openai-version") == "2020-10-01", f"openai-version {raw.headers.get('openai-version')!r}")
    expect(raw.headers.get("content-type", "").startswith("application/json"), f"{raw.headers}")
    expect(raw.parse().choices[0].message.content == EXPECTED, "parsed body differs")
    streamed = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES, stream=True)
    expect(streamed.headers.get("content-type", "").startswith("text/event-stream"), f"{streamed.headers}")
    text = "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)
    expect(text == EXPECTED, f"streamed {text!r}")


@check
def relay_errors_have_the_openai_shape():
    try:
        client.get("/no-such-endpoint", cast_to=object)
    except openai.NotFoundError as e:
        expect(isinstance(e.body, dict) and e.body.get("message"), f"body {e.body!r}")
        return f"404 {e.body.get('type')}: {e.body.get('message')}"
    raise AssertionError("no NotFoundError")


@check
def client_key_is_replaced_by_the_server_key():
    if not (MOCK_URL and MOCK_API_KEY):
        raise Skip("MOCK_URL and MOCK_API_KEY are not set")
    direct = OpenAI(base_url=f"{MOCK_URL}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=10)
    try:
        direct.models.list()
    except openai.AuthenticationError:
        return "the mock refuses the client key; through the relay every call passed"
    raise AssertionError("the mock accepted the client key, so this proves nothing")


def main():
    passed = failed = 0
    for fn in CHECKS:
        name = fn.__name__
        try:
            detail = fn()
        except Skip as e:
            print(f"SKIP {name}: {e}", flush=True)
        except Exception as e:  # one failing check must not stop the others
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            if os.environ.get("SMOKE_VERBOSE"):
                traceback.print_exc()
        else:
            passed += 1
            print(f"PASS {name}" + (f" ({detail})" if detail else ""), flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
