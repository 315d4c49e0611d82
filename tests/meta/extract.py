"""Extracts the response schemas the sandbox is checked against from Meta's OpenAPI
description of the Business Messaging API (business-messaging-api_v23.0.yaml), with every
$ref inlined, into tests/meta/schemas.json. Run from the repository root:

    python3 tests/meta/extract.py PATH/TO/business-messaging-api_v23.0.yaml
"""

import json
import sys

import yaml

OPERATIONS = [
    ("/{Version}/{Phone-Number-ID}/messages", "post", "200"),
    ("/{Version}/{WABA-ID}/message_templates", "post", "200"),
    ("/{Version}/{WABA-ID}/phone_numbers", "get", "200"),
]


def inline(doc, node, seen=()):
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                return {}
            target = doc
            for part in ref.lstrip("#/").split("/"):
                target = target[part]
            return inline(doc, target, seen + (ref,))
        return {k: inline(doc, v, seen) for k, v in node.items() if k != "example"}
    if isinstance(node, list):
        return [inline(doc, item, seen) for item in node]
    return node


def main():
    doc = yaml.safe_load(open(sys.argv[1]))
    out = {}
    for path, method, status in OPERATIONS:
        response = doc["paths"][path][method]["responses"][status]
        schema = response["content"]["application/json"]["schema"]
        out[f"{method.upper()} {path} {status}"] = inline(doc, schema)
    json.dump(out, open("tests/meta/schemas.json", "w"), indent=1, sort_keys=True)


main()
