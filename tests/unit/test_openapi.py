"""The published OpenAPI document is whole: every reference resolves."""

from __future__ import annotations

import json
import re
from pathlib import Path

from seadragon.app import create_app
from seadragon.config import Settings


def test_openapi_references_resolve(tmp_path: Path) -> None:
    doc = create_app(Settings(data_dir=tmp_path, local_model="off")).openapi()
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(doc)))
    assert refs <= set(doc["components"]["schemas"])
    chat = doc["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]
    assert {"model", "messages", "stream"} <= set(chat["application/json"]["schema"]["properties"])
