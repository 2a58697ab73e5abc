"""botocore's `pinpoint` service model, and the route table derived from it.

Everything about the wire (paths, parameter locations, wire names, status codes, shapes) is read
from the model; nothing here is written per operation.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

SERVICE = "pinpoint"
_LABEL = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True)
class Route:
    """One operation's HTTP binding: method, compiled path pattern, label names, model."""

    operation: OperationModel
    method: str
    pattern: re.Pattern
    labels: tuple[str, ...]
    literal_segments: int  # more literal segments = a more specific route

    @property
    def name(self) -> str:
        return self.operation.name

    def match(self, raw_path: str) -> dict[str, str] | None:
        m = self.pattern.fullmatch(raw_path)
        if m is None:
            return None
        # Labels are matched on the still-encoded path, then decoded one by one, so an
        # encoded "/" inside a label (an ARN, a user id) never splits a segment.
        if "%" not in raw_path:  # nothing to decode: most ids are plain
            return dict(zip(self.labels, m.groups()))
        return {label: unquote(value) for label, value in zip(self.labels, m.groups())}


def _compile(request_uri: str) -> tuple[re.Pattern, tuple[str, ...], int]:
    path = request_uri.split("?", 1)[0]
    parts, labels, pos = [], [], 0
    for m in _LABEL.finditer(path):
        parts.append(re.escape(path[pos : m.start()]))
        parts.append("([^/]+)")
        labels.append(m.group(1).rstrip("+"))
        pos = m.end()
    parts.append(re.escape(path[pos:]))
    literals = len([s for s in _LABEL.sub("", path).split("/") if s])
    return re.compile("".join(parts)), tuple(labels), literals


@dataclass
class Model:
    """The service model plus a route table keyed by method."""

    service: ServiceModel
    routes: dict[str, list[Route]] = field(default_factory=dict)
    # (method, number of path segments) -> candidate routes, most specific first
    _by_shape: dict[tuple[str, int], list[Route]] = field(default_factory=dict)

    @property
    def operation_names(self) -> list[str]:
        return list(self.service.operation_names)

    def operation(self, name: str) -> OperationModel:
        return self.service.operation_model(name)

    def shape(self, name: str) -> Shape:
        return self.service.shape_for(name)

    def error_shapes(self) -> dict[str, Shape]:
        return {s.name: s for s in self.service.error_shapes}

    def resolve(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        """The route for (method, raw path) and its decoded labels, or None."""
        for route in self._by_shape.get((method, raw_path.count("/")), ()):
            labels = route.match(raw_path)
            if labels is not None:
                return route, labels
        return None

    def allowed_methods(self, raw_path: str) -> list[str]:
        return sorted(m for m, rs in self.routes.items() if any(r.match(raw_path) is not None for r in rs))


@functools.cache
def load() -> Model:
    """Load the model once per process (it is immutable)."""
    loader = botocore.session.get_session().get_component("data_loader")
    service = ServiceModel(loader.load_service_model(SERVICE, "service-2"), service_name=SERVICE)
    model = Model(service)
    for name in service.operation_names:
        op = service.operation_model(name)
        pattern, labels, literals = _compile(op.http["requestUri"])
        route = Route(op, op.http["method"], pattern, labels, literals)
        model.routes.setdefault(route.method, []).append(route)
    for routes in model.routes.values():
        # Literal segments beat labels: /v1/apps/{id}/endpoints before /v1/apps/{id}/{x}.
        routes.sort(key=lambda r: -r.literal_segments)
        for route in routes:
            segments = route.operation.http["requestUri"].split("?", 1)[0].count("/")
            model._by_shape.setdefault((route.method, segments), []).append(route)
    return model
