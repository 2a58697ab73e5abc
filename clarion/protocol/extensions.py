"""Routes outside botocore's model: Clarion's documented extension API (docs/extensions.md).

They sit under `/v1/...` beside the model's routes, behind the same SigV4 auth, and answer
JSON. A handler is marked with `@extension("GET", "/v1/apps/{application-id}/...")` and takes
the context, the path labels in snake_case, `query` (name -> list of values) and `body`
(decoded JSON or None).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

_LABEL = re.compile(r"\{([^}]+)\}")


def extension(method: str, path: str) -> Callable:
    def mark(fn: Callable) -> Callable:
        fn.extension_route = (method, path)
        return fn

    return mark


@dataclass(frozen=True)
class ExtensionRoute:
    method: str
    template: str
    pattern: re.Pattern
    labels: tuple[str, ...]
    handler: Callable


class ExtensionRoutes:
    def __init__(self):
        self.routes: list[ExtensionRoute] = []

    def add(self, method: str, template: str, handler: Callable) -> None:
        labels = tuple(_LABEL.findall(template))
        pattern = re.compile(_LABEL.sub("([^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")))
        self.routes.append(ExtensionRoute(method, template, pattern, labels, handler))

    def resolve(self, method: str, raw_path: str) -> tuple[Callable, dict[str, str]] | None:
        for route in self.routes:
            if route.method == method:
                m = route.pattern.fullmatch(raw_path)
                if m:
                    return route.handler, {label.replace("-", "_"): unquote(v)
                                           for label, v in zip(route.labels, m.groups())}
        return None

    def allowed_methods(self, raw_path: str) -> list[str]:
        return sorted({r.method for r in self.routes if r.pattern.fullmatch(raw_path)})
