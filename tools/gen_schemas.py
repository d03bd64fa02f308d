#!/usr/bin/env python3
"""Write the JSON Schemas under schemas/openai/ from the OpenAI API description.

The route specs say which schemas they use, in their `openapi` table:

    openapi = { request_schema = "openai/createResponse.request.json",
                query_schema = "openai/listFiles.query.json",
                response_schema = "openai/createResponse.response.json" }

A name under `openai/` is `OPERATION_ID.KIND.json`, where KIND is

    request     the operation's application/json request body
    multipart   its multipart/form-data request body (the parts)
    query       its query parameters, as an object schema (one property each)
    response    its 2xx application/json response

This script writes every such file the routes reference (and removes files in
schemas/openai/ that no route references any more), so the relay, its tests
and CI never need the description itself. Each file is self-contained JSON
Schema 2020-12: the components it uses are bundled under `$defs`, and the
OpenAPI quirks are converted (`nullable`, boolean `exclusiveMinimum`,
`$recursiveRef`, duplicate `required` entries, defaults their schema
refuses; `discriminator` and `x-*` extensions are dropped), and the few
mistakes listed in FIXES are corrected.

    python3 tools/gen_schemas.py OPENAPI.yaml            # write the files
    python3 tools/gen_schemas.py OPENAPI.yaml --suggest  # print, per route,
        the references it could add (routes matched by method and path;
        a POST the description gives no body gets relay/no_body.json)

Options: --routes DIR (default routes.d), --out DIR (default schemas/openai).
Needs PyYAML.
"""

import argparse
import json
import pathlib
import re
import sys
import tomllib

import yaml

DIALECT = "https://json-schema.org/draft/2020-12/schema"
KINDS = ("request", "multipart", "query", "response")
COMPONENT = "#/components/schemas/"
# Mistakes of the description, fixed in the output: (component, required
# entry to drop). The request to create a Realtime session requires
# `client_secret`, a field of the answer.
FIXES = {("RealtimeSessionCreateRequest", "client_secret")}
# The hand-written schema of operations that take no body.
NO_BODY = "relay/no_body.json"


def load_description(path):
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)


def routes(routes_dir):
    """Every [[route]] of the spec files, with its file's [defaults] applied."""
    for path in sorted(pathlib.Path(routes_dir).glob("*.toml")):
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
        defaults = spec.get("defaults", {})
        for route in spec.get("route", []):
            yield path.name, {**{k: v for k, v in defaults.items() if k == "body"}, **route}


def operations(description):
    """(method, path, operation) of every operation in the description."""
    for path, item in description["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path, op


def shape(path):
    return re.sub(r"\{[^}]*\}", "{}", path.split("?")[0])


class Converter:
    """Turns OpenAPI schema objects into self-contained JSON Schema."""

    def __init__(self, description):
        self.components = description["components"]["schemas"]

    def bundle(self, schema, comment):
        """A schema with every component it uses under `$defs`."""
        defs = {}
        pending = []
        root = self.convert(schema, None, pending)
        while pending:
            name = pending.pop()
            if name not in defs:
                defs[name] = None
                defs[name] = self.convert(self.components[name], name, pending)
                required = defs[name].get("required", [])
                defs[name]["required"] = [r for r in required if (name, r) not in FIXES]
                if not defs[name]["required"]:
                    del defs[name]["required"]
        out = {"$schema": DIALECT, "$comment": comment}
        out.update(root)
        if defs:
            out["$defs"] = dict(sorted(defs.items()))
        return out

    def inline(self, schema, seen=()):
        """A small schema with its references replaced by their targets."""
        if isinstance(schema, dict) and "$ref" in schema and schema["$ref"].startswith(COMPONENT):
            name = schema["$ref"][len(COMPONENT):]
            if name in seen:
                return {}
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return {**self.inline(self.components[name], seen + (name,)), **self.inline(rest, seen)}
        if isinstance(schema, dict):
            return {k: self.inline(v, seen) for k, v in schema.items()}
        if isinstance(schema, list):
            return [self.inline(v, seen) for v in schema]
        return schema

    def convert(self, schema, current, pending):
        if isinstance(schema, list):
            return [self.convert(v, current, pending) for v in schema]
        if not isinstance(schema, dict):
            return schema
        out = {}
        for key, value in schema.items():
            if key.startswith("x-") or key in ("discriminator", "$recursiveAnchor"):
                continue
            if key == "$recursiveRef":
                out["$ref"] = f"#/$defs/{current}"
            elif key == "$ref" and isinstance(value, str) and value.startswith(COMPONENT):
                name = value[len(COMPONENT):]
                pending.append(name)
                out["$ref"] = f"#/$defs/{name}"
            elif key in ("properties", "$defs", "patternProperties"):
                out[key] = {k: self.convert(v, current, pending) for k, v in value.items()}
            elif key == "required" and isinstance(value, list):
                out[key] = list(dict.fromkeys(value))
            else:
                out[key] = self.convert(value, current, pending)
        for bound in ("Minimum", "Maximum"):
            exclusive, plain = f"exclusive{bound}", bound.lower()
            if out.get(exclusive) is True and plain in out:
                out[exclusive] = out.pop(plain)
            elif isinstance(out.get(exclusive), bool):
                del out[exclusive]
        if out.pop("nullable", False) is True:
            out = nullable(out)
        elif "default" in out and not default_fits(out):
            del out["default"]  # the description has a few defaults its schema refuses
        return out


TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool,
         "array": list, "object": dict, "null": type(None)}


def default_fits(schema):
    value = schema["default"]
    if value is None:
        return allows_null(schema)
    if "enum" in schema and value not in schema["enum"]:
        return False
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    if kinds and not any(isinstance(value, TYPES.get(k, object)) for k in kinds):
        return False
    return not (isinstance(value, bool) and kinds and "boolean" not in kinds)


def allows_null(schema):
    kind = schema.get("type")
    if kind is not None:
        return kind == "null" or (isinstance(kind, list) and "null" in kind)
    members = schema.get("anyOf", []) + schema.get("oneOf", [])
    if members:
        return any(isinstance(m, dict) and allows_null(m) and len(m) > 0 for m in members)
    return not any(k in schema for k in ("$ref", "allOf", "enum", "const"))


def nullable(schema):
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list):
        schema["type"] = kind + ([] if "null" in kind else ["null"])
    else:
        outer = {k: schema.pop(k) for k in ("description", "default") if k in schema}
        return {"anyOf": [schema, {"type": "null"}], **outer}
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = schema["enum"] + [None]
    return schema


def body_schema(op, media):
    content = op.get("requestBody", {}).get("content", {})
    return content.get(media, {}).get("schema")


def response_schema(op):
    for status, answer in sorted(op.get("responses", {}).items()):
        if str(status).startswith("2"):
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            if schema:
                return schema
    return None


def query_schema(op, converter):
    properties, required = {}, []
    for param in op.get("parameters", []):
        param = converter.inline(param)
        if param.get("in") != "query":
            continue
        prop = converter.convert(converter.inline(param.get("schema", {})), None, [])
        if param.get("description"):
            prop["description"] = param["description"].strip()
        properties[param["name"]] = prop
        if param.get("required"):
            required.append(param["name"])
    if not properties:
        return None
    out = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    return out


def schema_for(name, by_id, converter):
    """The schema a file name asks for, or an error message."""
    match = re.fullmatch(r"([A-Za-z0-9_-]+)\.(" + "|".join(KINDS) + r")\.json", name)
    if not match:
        return None, f"{name}: not OPERATION_ID.KIND.json (KIND: {', '.join(KINDS)})"
    op_id, kind = match.groups()
    if op_id not in by_id:
        return None, f"{name}: the description has no operation {op_id}"
    method, path, op = by_id[op_id]
    comment = f"Generated by tools/gen_schemas.py from the OpenAI API description: {kind} of {op_id} ({method} {path})."
    if kind == "query":
        schema = query_schema(op, converter)
        return (schema and {"$schema": DIALECT, "$comment": comment, **schema}), f"{name}: {op_id} has no query parameters"
    source = {
        "request": lambda: body_schema(op, "application/json"),
        "multipart": lambda: body_schema(op, "multipart/form-data"),
        "response": lambda: response_schema(op),
    }[kind]()
    if source is None:
        return None, f"{name}: {op_id} has no {kind} schema"
    return converter.bundle(source, comment), None


def referenced(routes_dir):
    names = set()
    for _, route in routes(routes_dir):
        for key, value in route.get("openapi", {}).items():
            if key.endswith("_schema") and isinstance(value, str) and value.startswith("openai/"):
                names.add(value[len("openai/"):])
    return names


def suggest(routes_dir, description):
    index = {}
    for method, path, op in operations(description):
        if "?" not in path:
            index[(method, shape(path))] = op
    for file, route in routes(routes_dir):
        if route.get("protocol") == "websocket":
            continue
        methods = route["method"] if isinstance(route["method"], list) else [route["method"]]
        upstream = route.get("upstream_path") or re.sub(r"^/v1(?=/|$)", "", route["path"])
        upstream = upstream.replace("{*", "{")
        known = route.get("openapi", {})
        for method in methods:
            op = index.get((method.upper(), shape(upstream)))
            if not op:
                continue
            op_id = op["operationId"]
            accept = route.get("body", {}).get("accept") or ["application/json", "multipart/form-data"]
            if any(t.get("type") in ("envelope", "json_to_multipart") for t in route.get("transforms", [])):
                accept = [a for a in accept if a != "application/json"]
            keys = {}
            if body_schema(op, "application/json") and "application/json" in accept:
                keys["request_schema"] = f"openai/{op_id}.request.json"
            elif method.upper() == "POST" and "requestBody" not in op and "application/json" in accept:
                keys["request_schema"] = NO_BODY
            if body_schema(op, "multipart/form-data") and "multipart/form-data" in accept:
                keys["multipart_schema"] = f"openai/{op_id}.multipart.json"
            if any(p.get("in") == "query" for p in op.get("parameters", []) if isinstance(p, dict)):
                keys["query_schema"] = f"openai/{op_id}.query.json"
            if known.get("actions") and response_schema(op):
                keys["response_schema"] = f"openai/{op_id}.response.json"
            missing = {k: v for k, v in keys.items() if k not in known}
            if missing:
                print(f"{file}\t{route['id']}\t{json.dumps(missing)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("description", help="the OpenAI API description (openapi.yaml)")
    parser.add_argument("--routes", default="routes.d")
    parser.add_argument("--out", default="schemas/openai")
    parser.add_argument("--suggest", action="store_true", help="print references routes could add")
    args = parser.parse_args()
    description = load_description(args.description)
    if args.suggest:
        suggest(args.routes, description)
        return 0
    converter = Converter(description)
    by_id = {op["operationId"]: (m, p, op) for m, p, op in operations(description) if "operationId" in op}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = referenced(args.routes)
    failed = False
    for name in sorted(wanted):
        schema, problem = schema_for(name, by_id, converter)
        if schema is None:
            print(f"error: {problem}", file=sys.stderr)
            failed = True
            continue
        (out / name).write_text(json.dumps(schema, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for stale in sorted(out.glob("*.json")):
        if stale.name not in wanted:
            stale.unlink()
            print(f"removed {stale}", file=sys.stderr)
    total = sum(f.stat().st_size for f in out.glob("*.json"))
    print(f"{len(wanted)} schemas in {out}, {total / 1e6:.1f} MB", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
