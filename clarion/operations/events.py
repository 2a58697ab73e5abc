"""PutEvents: record events for endpoints, and update the endpoints that carry data.

The request is a batch keyed by endpoint id, each with client-chosen event ids; the answer says,
per endpoint and per event, 202 "Accepted" or 400 with the reason (`events.ingest`). A batch
with some bad items stores the good ones. A batch's `Endpoint` updates the endpoint with
UpdateEndpoint's merge semantics; an empty one (the Amplify clients send `{}`) changes nothing,
and an unknown endpoint with an empty `Endpoint` is not created (its events are still
recorded). The 202 is sent once the events are durable in the event store.
"""

from __future__ import annotations

from ..events import context as endpoint_context
from ..events import ingest
from ..events.rows import micros
from ..protocol.errors import InternalServerError, NotFound
from ..protocol.validate import ItemError
from . import operation

# The shapes whose values are answered one by one instead of failing the whole request.
BATCH_ITEMS = ("EventsBatch", "PublicEndpoint", "Event")


def _without_endpoint_updates(params: dict) -> bool:
    """Whether the request only reads the store: it then runs on the event loop (no thread hop),
    since the journal append it waits for is one short write. A batch that updates endpoints
    takes a write transaction, which may wait for the store's lock: that runs in a thread."""
    batches = params["events_request"].get("BatchItem") or {}
    return not any(_updates(batch) for batch in batches.values())


def _updates(batch) -> bool:
    """Whether a batch (EventsBatch) carries endpoint data to apply."""
    if isinstance(batch, ItemError):
        return False
    endpoint = batch["Endpoint"]  # the Amplify clients send {}: no generator for that
    return bool(endpoint) and not isinstance(endpoint, ItemError) and any(v is not None for v in endpoint.values())


@operation("PutEvents", inline=_without_endpoint_updates, batch_items=BATCH_ITEMS,
           max_body_bytes=ingest.MAX_REQUEST_BYTES)
def put_events(ctx, application_id: str, events_request: dict) -> dict:
    batches = events_request["BatchItem"]
    ingest.check_size(batches)
    app_id, contexts, endpoint_results = _endpoints(ctx, application_id, batches)
    arrival = ctx.service.clock.now()
    store = ctx.service.events
    result = ingest.ingest(app_id, batches, contexts, endpoint_results, store.registry, micros(arrival))
    try:
        store.write(result.encoded)  # returns once the rows are in the journal
    except Exception as error:
        raise InternalServerError("The events could not be stored; send them again") from error
    if result.active:
        ctx.service.activity.record(app_id, result.active, arrival)
        for listener in ctx.service.event_listeners:  # EVENT campaigns
            listener("ENDPOINT", app_id, (batches, result.results))
    return {"Results": result.results}


def _endpoints(ctx, application_id: str, batches: dict) -> tuple[str, dict, dict]:
    """Check the app, apply the batches' endpoint updates, and return (app id, endpoint id ->
    endpoint columns for its events, endpoint id -> EndpointItemResponse of refused updates)."""
    valid = {eid: b for eid, b in batches.items() if not isinstance(b, ItemError)}
    results = {eid: ingest.rejected(b["Endpoint"].message) for eid, b in valid.items()
               if isinstance(b["Endpoint"], ItemError)}
    updates = [(eid, b["Endpoint"]) for eid, b in valid.items() if eid not in results and _updates(b)]
    keys = sorted({eid.lower() for eid in valid})
    if updates:
        with ctx.store.write() as conn:
            app_id, stored = endpoint_context.app_and_endpoints(conn, application_id, keys)
            if app_id is None:
                raise NotFound("Application not found")
            from .endpoints import upsert_endpoints

            refused = upsert_endpoints(ctx, conn, app_id, updates, partial=True)
            results.update({updates[i][0]: ingest.rejected(message) for i, message in refused.items()})
    else:  # nothing to write: one statement, no transaction
        app_id, stored = endpoint_context.read_app_and_endpoints(ctx.store, application_id, keys)
        if app_id is None:
            raise NotFound("Application not found")
    contexts = {}
    for eid, batch in valid.items():
        update = batch["Endpoint"] if eid not in results else None
        contexts[eid] = endpoint_context.context(stored.get(eid.lower()), update)
    return app_id, contexts, results
