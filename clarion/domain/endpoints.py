"""Endpoint rules: upsert merge, limits, user attributes, and the INACTIVE decisions.

Pure: no I/O, the time and the request id are passed in. The store loads the rows a batch can
touch into a `Workspace`; `Workspace.apply` plays the items in order against that in-memory
state exactly as Pinpoint would one request after the other; the caller writes the result.

Choices where Pinpoint's behaviour is UNCONFIRMED (reference §1, §13):
- `Demographic` and `Location` merge field by field (send only what changes).
- `OptOut` omitted on create takes the server default (`NONE` unless configured).
- "Missing Address": an endpoint that would end up without an `Address` while opted in
  (`OptOut` other than `ALL`) is rejected; an opted-out endpoint may have no address.
- An empty `UserId` means "no user". `UserAttributes` sent for an endpoint without a user stay
  on the endpoint and move to the user when one is attached.
- Client-sent `EffectiveDate` / `RequestId` are ignored: the server sets both on every update.
- Updating an endpoint that ends up `ACTIVE` with an address sets every other endpoint of the
  app with the same `Address` (any channel, as the model's docs say) to `INACTIVE`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

MAX_ATTRIBUTE_NAMES = 250  # per app, across Attributes + Metrics + UserAttributes
MAX_NAME_LENGTH = 50
MAX_VALUE_LENGTH = 100
MAX_VALUES_PER_KEY = 50
MAX_ENDPOINT_BYTES = 15 * 1024
MAX_BATCH_ITEMS = 100
MAX_ENDPOINTS_PER_USER = 15
MAX_ID_LENGTH = 256  # endpoint and user ids (Clarion's column size)
MAX_ADDRESS_LENGTH = 512

# Push channels whose oldest endpoint gives way to a 16th one of the same user (APNS_SANDBOX
# is not in Pinpoint's list: sandbox endpoints are never cleaned up automatically).
AUTO_DEACTIVATED_CHANNELS = frozenset({"ADM", "GCM", "APNS", "APNS_VOIP", "APNS_VOIP_SANDBOX", "BAIDU"})
# Where each attribute map lives, and its kind in the app's attribute registry.
ATTRIBUTE_KINDS = {"Attributes": "custom", "Metrics": "metric", "UserAttributes": "user"}
TOO_MANY_ENDPOINTS = f"Exceeded maximum endpoint per user count: {MAX_ENDPOINTS_PER_USER}"


class Invalid(ValueError):
    """A request Pinpoint would answer with 400 BadRequestException; `str()` is the message."""


def endpoint_key(endpoint_id: str) -> str:
    """Endpoint ids are case-insensitive: the store keys them lower-cased."""
    return endpoint_id.lower()


# -- stateless checks ----------------------------------------------------------------------

def check_endpoint_id(endpoint_id) -> None:
    if not isinstance(endpoint_id, str) or not endpoint_id:
        raise Invalid("Missing endpoint Id")
    if "$" in endpoint_id or "{" in endpoint_id or "}" in endpoint_id:
        raise Invalid(f"Invalid endpoint Id '{endpoint_id}': it may not contain '$', '{{' or '}}'")
    if len(endpoint_id) > MAX_ID_LENGTH or "\x00" in endpoint_id:
        raise Invalid(f"Invalid endpoint Id: at most {MAX_ID_LENGTH} characters, no NUL characters")


def check_request(request: dict) -> None:
    """Limits that need no stored state: names, values, lengths, enumerations. (The gateway
    checked the API's JSON types already; PutEvents and imports may carry anything.)"""
    if type(request) is not dict:
        raise Invalid("The endpoint must be a JSON object")
    get = request.get
    if get("EndpointStatus") not in _STATUSES:
        raise Invalid(f"Invalid EndpointStatus '{get('EndpointStatus')}': expected ACTIVE or INACTIVE")
    if get("OptOut") not in _OPT_OUTS:
        raise Invalid(f"Invalid OptOut '{get('OptOut')}': expected ALL or NONE")
    address, attributes, metrics, user = get("Address"), get("Attributes"), get("Metrics"), get("User")
    if address is not None and (type(address) is not str or len(address) > MAX_ADDRESS_LENGTH):
        _check_text(address, "Address", MAX_ADDRESS_LENGTH)
    if attributes:
        _check_attributes(attributes, "Attributes")
    if metrics:
        _check_metrics(metrics)
    if type(get("Demographic")) not in _MAYBE_OBJECT or type(get("Location")) not in _MAYBE_OBJECT \
            or type(user) not in _MAYBE_OBJECT:
        for part in ("Demographic", "Location", "User"):
            if type(get(part)) not in _MAYBE_OBJECT:
                raise Invalid(f"{part} must be an object")
    if user:
        _check_text(user.get("UserId"), "UserId", MAX_ID_LENGTH)
        if user.get("UserAttributes"):
            _check_attributes(user["UserAttributes"], "UserAttributes")


_STATUSES = (None, "ACTIVE", "INACTIVE")
_OPT_OUTS = (None, "ALL", "NONE")
_MAYBE_OBJECT = frozenset({dict, type(None)})


def _check_text(value, member: str, limit: int) -> None:
    if value is not None and (type(value) is not str or len(value) > limit):
        raise Invalid(f"{member} must be a string of at most {limit} characters")


def _bad_name(name, member: str) -> Invalid:
    if not isinstance(name, str) or not name:
        return Invalid(f"{member} has an empty attribute name")
    return Invalid(f"{member} name '{name}' is longer than {MAX_NAME_LENGTH} characters")


def _check_attributes(values, member: str) -> None:
    if type(values) is not dict:
        raise Invalid(f"{member} must be an object")
    for name, items in values.items():
        if type(name) is not str or not 0 < len(name) <= MAX_NAME_LENGTH:
            raise _bad_name(name, member)
        if items is None:
            continue
        if type(items) is not list:
            raise Invalid(f"{member}.{name} must be a list of strings")
        if len(items) > MAX_VALUES_PER_KEY:
            raise Invalid(f"{member}.{name} has {len(items)} values; the limit is {MAX_VALUES_PER_KEY}")
        for item in items:
            if type(item) is not str:
                raise Invalid(f"{member}.{name} must be a list of strings")
            if len(item) > MAX_VALUE_LENGTH:
                raise Invalid(f"{member}.{name} has a value longer than {MAX_VALUE_LENGTH} characters")


def _check_metrics(values) -> None:
    if type(values) is not dict:
        raise Invalid("Metrics must be an object")
    for name, value in values.items():
        if type(name) is not str or not 0 < len(name) <= MAX_NAME_LENGTH:
            raise _bad_name(name, "Metrics")
        if value is not None and type(value) is not float and type(value) is not int:
            raise Invalid(f"Metrics.{name} must be a number")


# -- merge -----------------------------------------------------------------------------------

def merge_map(old: dict | None, update: dict | None) -> dict:
    """Per-key merge: a key present replaces its whole value (an empty list clears the values
    but keeps the key); keys not mentioned are kept; a null value means "not mentioned"."""
    if not update:
        return dict(old or {})
    merged = {**old, **update} if old else dict(update)
    if None in update.values():
        for name, value in update.items():
            if value is None:
                del merged[name]
                if old and name in old:
                    merged[name] = old[name]
    return merged


def _merged(old: dict | None, update: dict) -> dict:
    """`merge_map` for an update that is not empty, with the common case (no null) inline."""
    if None in update.values():
        return merge_map(old, update)
    return {**old, **update} if old else update.copy()


def round_location(location: dict) -> dict:
    """Pinpoint keeps latitude and longitude to one decimal place (47.61 -> 47.6)."""
    return _round_in_place(location.copy())


def _round_in_place(location: dict) -> dict:
    for name in ("Latitude", "Longitude"):
        value = location.get(name)
        if value is not None and (type(value) is float or type(value) is int):
            location[name] = round(float(value), 1)
    return location


def new_endpoint(app_id: str, endpoint_id: str, now: str, cohort: int, default_opt_out: str) -> dict:
    """The server-set fields of an endpoint that does not exist yet."""
    return {"ApplicationId": app_id, "Id": endpoint_id, "CohortId": str(cohort), "CreationDate": now,
            "OptOut": default_opt_out}


_SCALARS = ("Address", "ChannelType", "OptOut")
_MAPS = ("Attributes", "Metrics", "Demographic")  # Demographic (and Location) merge field by field


def apply_update(doc: dict, request: dict, now: str, request_id: str) -> dict:
    """The endpoint after one update (without the `User` part, see `resolve_user`)."""
    updated = doc.copy()
    get = request.get
    for name in _SCALARS:
        value = get(name)
        if value is not None:
            updated[name] = value
    for name in _MAPS:
        value = get(name)
        if value is not None:
            updated[name] = _merged(doc.get(name), value)
    location = get("Location")
    if location is not None:
        updated["Location"] = _round_in_place(_merged(doc.get("Location"), location))
    updated["EndpointStatus"] = get("EndpointStatus") or "ACTIVE"
    updated["EffectiveDate"] = now
    updated["RequestId"] = request_id
    return updated


def target_user(current_user: str | None, user: dict | None) -> str | None:
    """The user the endpoint belongs to after an update with this `User` part ("" means no user)."""
    user_id = user.get("UserId") if user else None
    if user_id is None:
        return current_user
    return user_id or None


def resolve_user(doc: dict, current_user: str | None, target: str | None, user_attributes: dict | None,
                 update: dict | None) -> tuple[dict | None, dict | None]:
    """(the endpoint's own `User` part, the target user's attributes after the update).

    A user's attributes live with the user; an endpoint without a user keeps the attributes
    sent for it, and hands them to the user it is later attached to."""
    own = None
    if current_user is None and doc.get("User"):
        own = doc["User"].get("UserAttributes")
    if target is None:
        attributes = merge_map(own, update)
        return ({"UserAttributes": attributes} if attributes else None), None
    attributes = user_attributes or {}
    if own:
        attributes = merge_map(attributes, own)
    if own or update:
        attributes = merge_map(attributes, update)
    return {"UserId": target}, attributes


def project(doc: dict, user_attributes: dict | None) -> dict:
    """The EndpointResponse: the endpoint with its user's attributes."""
    user = doc.get("User")
    if not user_attributes or not user or "UserId" not in user:
        return doc
    return {**doc, "User": {"UserId": user["UserId"], "UserAttributes": user_attributes}}


def check_complete(response: dict) -> None:
    """Rules on the endpoint as it would be stored: address and size."""
    encode(response, None)


_USER_ATTRIBUTES_MEMBER = len(b',"UserAttributes":')


def encode(doc: dict, user_attributes: dict | None) -> str:
    """The JSON text of `doc` (an endpoint as stored), once the EndpointResponse it makes with
    its user's attributes (`project`) passes the address and size rules; else Invalid.

    The response is not encoded itself: where it has the user's attributes, it is `doc` with
    `,"UserAttributes":{...}` added inside `User`, so its size is the sum of the two texts."""
    if not doc.get("Address") and doc.get("OptOut") != "ALL":
        raise Invalid("Missing Address")
    text = orjson.dumps(doc)
    size, attributes = len(text), b""
    user = doc.get("User")
    if user_attributes and user and "UserId" in user:  # as `project` decides
        attributes = orjson.dumps(user_attributes)
        size += _USER_ATTRIBUTES_MEMBER + len(attributes)
    # A NUL can only be written as an escape: a one-byte search for a backslash (memchr)
    # clears most texts, ten times faster than searching for the escape itself.
    if (b"\\" in text or b"\\" in attributes) and (b"\\u0000" in text or b"\\u0000" in attributes):
        raise Invalid("Endpoint values may not contain NUL characters")
    if size > MAX_ENDPOINT_BYTES:
        raise Invalid(f"Endpoint {doc['Id']} is {size} bytes; the limit is {MAX_ENDPOINT_BYTES} bytes (15 KB)")
    return text.decode()


# -- the 15-endpoints-per-user rule ----------------------------------------------------------

class Member(NamedTuple):
    """What the per-user rule needs to know of an endpoint of the user."""

    key: str
    channel_type: str | None
    effective_date: str


def endpoint_to_detach(channel_type: str | None, members: Iterable[Member]) -> str | None:
    """Room for one more endpoint of a user: None when there is room, else the key of the push
    endpoint with the oldest EffectiveDate to set INACTIVE and detach; or Invalid."""
    members = list(members)
    if len(members) < MAX_ENDPOINTS_PER_USER:
        return None
    if channel_type in AUTO_DEACTIVATED_CHANNELS:
        candidates = [m for m in members if m.channel_type in AUTO_DEACTIVATED_CHANNELS]
        if candidates:
            return min(candidates, key=lambda m: (m.effective_date, m.key)).key
    raise Invalid(TOO_MANY_ENDPOINTS)


def deactivated(doc: dict) -> dict:
    return {**doc, "EndpointStatus": "INACTIVE"}


def detached(doc: dict) -> dict:
    """Auto-deactivated by the per-user rule: INACTIVE, and no longer the user's."""
    out = deactivated(doc)
    out.pop("User", None)
    return out


# -- attribute registry ----------------------------------------------------------------------

def without_names(request: dict, removed: set[tuple[str, str]]) -> dict:
    """The request minus the attributes the registry no longer captures (RemoveAttributes)."""
    if not removed:
        return request
    out = dict(request)
    for member in ("Attributes", "Metrics"):
        if out.get(member):
            kind = ATTRIBUTE_KINDS[member]
            out[member] = {n: v for n, v in out[member].items() if (kind, n) not in removed}
    user = out.get("User")
    if user and user.get("UserAttributes"):
        kept = {n: v for n, v in user["UserAttributes"].items() if ("user", n) not in removed}
        out["User"] = {**user, "UserAttributes": kept}
    return out


# -- one batch against loaded state ----------------------------------------------------------

@dataclass(slots=True)
class Stored:
    """An endpoint row as loaded (or about to be created)."""

    key: str
    doc: dict  # EndpointResponse without the user's attributes
    user_id: str | None
    cohort: int
    created: bool = False
    changed: bool = False
    # (user id, channel type, address) as stored, for the store to tell whether an update
    # moves the row in its indexes; None when not known (always for a new row).
    columns: tuple | None = None
    # (doc, its JSON text) when the rules encoded it already; the store writes the text while
    # `doc` is still that same object.
    encoded: tuple | None = None

    @property
    def text(self) -> str:
        """The JSON text of `doc`."""
        if self.encoded is not None and self.encoded[0] is self.doc:
            return self.encoded[1]
        return orjson.dumps(self.doc).decode()

    @property
    def member(self) -> Member:
        return Member(self.key, self.doc.get("ChannelType"), self.doc.get("EffectiveDate", ""))


@dataclass
class Workspace:
    """Everything a batch can read or change, loaded up front; `apply` runs the rules."""

    app_id: str
    now: str
    request_id: str
    default_opt_out: str
    new_cohort: Callable[[], int]
    endpoints: dict[str, Stored]  # the batch's rows plus same-address and same-user rows
    users: dict[str, dict]  # user id -> UserAttributes, for the users involved
    registry: dict[tuple[str, str], bool]  # (kind, name) -> removed
    channel_types: frozenset[str]  # the model's ChannelType enum
    new_users: set[str] = field(default_factory=set)
    changed_users: set[str] = field(default_factory=set)
    left_users: set[str] = field(default_factory=set)  # lost an endpoint: may have none left
    new_names: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self):
        self._by_user: dict[str, set[str]] = {}
        self._by_address: dict[str, set[str]] = {}
        for stored in self.endpoints.values():
            _index(self._by_user, stored.user_id, stored.key)
            _index(self._by_address, stored.doc.get("Address"), stored.key)
        self._removed = {name for name, removed in self.registry.items() if removed}
        self._active_names = len(self.registry) - len(self._removed)
        self._known: dict[str, set[str]] = {kind: set() for kind in ATTRIBUTE_KINDS.values()}
        for kind, name in self.registry:
            self._known[kind].add(name)

    def apply_all(self, items: list[tuple[str, dict]], partial: bool = False) -> dict[int, str]:
        """Apply items in order. Invalid raises, or with `partial` skips the item (leaving the
        workspace as if it was never sent) and reports {position: message}."""
        errors = {}
        for position, (endpoint_id, request) in enumerate(items):
            try:
                self.apply(endpoint_id, request)
            except Invalid as exc:
                if not partial:
                    raise
                errors[position] = str(exc)
        return errors

    def apply(self, endpoint_id: str, request: dict) -> None:
        check_endpoint_id(endpoint_id)
        check_request(request)
        channel = request.get("ChannelType")
        if channel is not None and channel not in self.channel_types:
            raise Invalid(f"Invalid ChannelType '{channel}'")
        key = endpoint_key(endpoint_id)
        current = self.endpoints.get(key)
        if self._removed:
            request = without_names(request, self._removed)
        user = request.get("User")
        names = self._unregistered(request, user)
        if current is None:
            cohort = self.new_cohort()
            doc = new_endpoint(self.app_id, endpoint_id, self.now, cohort, self.default_opt_out)
            old_user = None
        else:
            doc, old_user, cohort = current.doc, current.user_id, current.cohort
        doc = apply_update(doc, request, self.now, self.request_id)
        target = target_user(old_user, user)
        update = user.get("UserAttributes") if user else None
        user_part, attributes = resolve_user(doc, old_user, target, self.users.get(target), update)
        doc.pop("User", None)
        if user_part:
            doc["User"] = user_part
        text = encode(doc, attributes)
        detach = None
        if target is not None and target != old_user and \
                len(self._by_user.get(target, ())) >= MAX_ENDPOINTS_PER_USER:  # else there is room
            detach = endpoint_to_detach(doc.get("ChannelType"), self._members(target))
        # Every check passed: commit the item to the workspace.
        if names:
            self._register(names)
        if detach is not None:
            self._detach(detach)
        self._save_user(target, attributes)
        if old_user is not None and old_user != target:
            self.left_users.add(old_user)
        if current is None:
            self._put(Stored(key, doc, target, cohort, True, True, None, (doc, text)))
        else:
            self._put(Stored(key, doc, target, cohort, current.created, True, current.columns, (doc, text)))
        address = doc.get("Address")
        if address and doc["EndpointStatus"] == "ACTIVE":
            self._deactivate_same_address(key, address)

    def _unregistered(self, request: dict, user: dict | None) -> set[tuple[str, str]] | None:
        """The attribute names the request adds to the registry (None: none); Invalid past the
        limit. Usually every name is known: three subset tests settle it."""
        known = self._known
        attributes, metrics = request.get("Attributes"), request.get("Metrics")
        user_attributes = user.get("UserAttributes") if user else None
        if (not attributes or known["custom"].issuperset(attributes)) and \
                (not metrics or known["metric"].issuperset(metrics)) and \
                (not user_attributes or known["user"].issuperset(user_attributes)):
            return None
        names = set()
        for kind, values in (("custom", attributes), ("metric", metrics), ("user", user_attributes)):
            if values:
                names.update((kind, name) for name in values if name not in known[kind])
        if self._active_names + len(names) > MAX_ATTRIBUTE_NAMES:
            raise Invalid("Too many custom attributes")
        return names

    def _register(self, names: set[tuple[str, str]]) -> None:
        for kind, name in names:
            self.registry[kind, name] = False
            self._known[kind].add(name)
        self.new_names |= names
        self._active_names += len(names)

    def _members(self, user_id: str) -> list[Member]:
        return [self.endpoints[k].member for k in self._by_user.get(user_id, ())]

    def _detach(self, key: str) -> None:
        stored = self.endpoints[key]
        self._put(Stored(key, detached(stored.doc), None, stored.cohort, stored.created, changed=True,
                         columns=stored.columns))

    def _save_user(self, user_id: str | None, attributes: dict | None) -> None:
        if user_id is None:
            return
        if user_id not in self.users:
            self.new_users.add(user_id)
        elif self.users[user_id] == attributes:
            return
        self.users[user_id] = attributes
        self.changed_users.add(user_id)

    def _deactivate_same_address(self, key: str, address: str) -> None:
        for other in self._by_address.get(address, ()):
            stored = self.endpoints[other]
            if other != key and stored.doc.get("EndpointStatus") != "INACTIVE":
                stored.doc = deactivated(stored.doc)
                stored.changed = True

    def _put(self, stored: Stored) -> None:
        key, endpoints = stored.key, self.endpoints
        previous = endpoints.get(key)
        endpoints[key] = stored
        user_id, address = stored.user_id, stored.doc.get("Address")
        if previous is not None:
            old_user, old_address = previous.user_id, previous.doc.get("Address")
            if old_user == user_id and old_address == address:
                return  # same place in both indexes
            _unindex(self._by_user, old_user, key)
            _unindex(self._by_address, old_address, key)
        _index(self._by_user, user_id, key)
        _index(self._by_address, address, key)


def _index(index: dict[str, set[str]], value: str | None, key: str) -> None:
    if value:
        keys = index.get(value)
        if keys is None:
            index[value] = {key}
        else:
            keys.add(key)


def _unindex(index: dict[str, set[str]], value: str | None, key: str) -> None:
    if value:
        keys = index.get(value)
        if keys is not None:
            keys.discard(key)
