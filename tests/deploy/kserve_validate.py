"""Check KServe manifests against the `kserve` package's own models of its resources.

Run in a virtual environment with `kserve` installed (tests/deploy/test_kserve_manifest.py makes
one): `python kserve_validate.py MANIFEST.yaml`. Every key must be a field of the resource's model
(KServe's `V1beta1InferenceService`, `V1alpha1ServingRuntime`, and the Kubernetes models they
embed), every value of the field's type; prints one line per problem, exits 1 if there is any.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import kserve.models
import kubernetes.client
import yaml

KINDS = {
    ("serving.kserve.io/v1beta1", "InferenceService"): "V1beta1InferenceService",
    ("serving.kserve.io/v1alpha1", "ServingRuntime"): "V1alpha1ServingRuntime",
}
SCALARS = {"str": str, "int": int, "bool": bool, "float": (int, float)}


def model_class(name: str) -> Any:
    for module in (kserve.models, kubernetes.client):
        if hasattr(module, name):
            return getattr(module, name)
    raise KeyError(name)


def check(value: Any, type_name: str, where: str, problems: list[str]) -> None:
    """Append to `problems` what in `value` does not fit `type_name` (an openapi_types string)."""
    if type_name in ("object", "IntOrString"):
        if not isinstance(value, (str, int, dict, list)):
            problems.append(f"{where}: unexpected {type(value).__name__}")
        return
    if type_name in SCALARS:
        ok = isinstance(value, SCALARS[type_name]) and not (type_name != "bool" and isinstance(value, bool))
        if not ok:
            problems.append(f"{where}: expected {type_name}, got {value!r}")
        return
    listed = re.fullmatch(r"(?:list|List)\[(.+)\]", type_name)
    if listed:
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list")
            return
        for i, item in enumerate(value):
            check(item, listed.group(1), f"{where}[{i}]", problems)
        return
    mapping = re.fullmatch(r"(?:dict|Dict)\(str, (.+)\)|Dict\[str, (.+)\]", type_name)
    if mapping:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a mapping")
            return
        for key, item in value.items():
            check(item, mapping.group(1) or mapping.group(2), f"{where}.{key}", problems)
        return
    check_object(value, model_class(type_name), where, problems)


def check_object(value: Any, cls: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{where}: expected a {cls.__name__} mapping")
        return
    fields = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    for key, item in value.items():
        if key not in fields:
            problems.append(f"{where}.{key}: not a field of {cls.__name__}")
            continue
        check(item, cls.openapi_types[fields[key]], f"{where}.{key}", problems)


def main(path: str) -> int:
    problems: list[str] = []
    with open(path) as f:
        documents = [d for d in yaml.safe_load_all(f) if d]
    for i, doc in enumerate(documents):
        kind = KINDS.get((doc.get("apiVersion"), doc.get("kind")))
        if kind is None:
            problems.append(f"document {i}: unknown kind {doc.get('apiVersion')}/{doc.get('kind')}")
            continue
        check_object(doc, model_class(kind), doc["kind"], problems)
    for problem in problems:
        print(problem)
    print(f"{len(documents)} documents, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
