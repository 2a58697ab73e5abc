"""API benchmark: Clarion's hot operations against two references, measured side by side.

    .venv/bin/python bench/api.py [--seconds 5] [--warmup 1] [--clients 2] [--connections 4]

Starts, one after the other, each on a free loopback port:
  - `clarion serve` (its own uvicorn settings, nothing special-cased) with a temporary data dir
    and fixed root credentials, and measures GetApp, GetEndpoint, UpdateEndpoint and
    UpdateEndpointsBatch (100 endpoints per request);
  - moto's server (`python -m moto.server`), the Python peer that answers CreateApp/GetApp,
    and measures GetApp;
  - a bare Starlette app under uvicorn that returns a fixed JSON body: the framework's floor.
All three get the same SigV4-signed requests from the same client processes (see _harness.py).
It prints one table and the ratios the project targets: GetApp >= 5x moto and >= 0.5x the bare
endpoint, UpdateEndpointsBatch >= 20,000 endpoints/s. CLARION_DATABASE_URL, if set, passes
through to `clarion serve`, so the same bench runs on PostgreSQL.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
import tempfile
from pathlib import Path

import boto3
import botocore.config
import orjson
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Credentials, add_load_options, Load, Result, Server, format_table, free_port, machine_line, run_phase  # noqa: E402

REGION = "us-east-1"
CREDS = Credentials("AKIDCLARIONBENCH0001", "bench-secret-key-0123456789abcdef", REGION)
BATCH_SIZE = 100
SEED_ENDPOINTS = 2_000  # read by GetEndpoint
UPDATE_POOL = 2_000  # distinct UpdateEndpoint requests per client process
BATCH_POOL = 300  # distinct UpdateEndpointsBatch requests per client process (30,000 endpoints)
BARE_BODY = orjson.dumps({"Arn": "arn:aws:mobiletargeting:us-east-1:000000000000:apps/" + "0" * 32,
                          "Id": "0" * 32, "Name": "bench", "CreationDate": "2024-01-01T00:00:00.000Z",
                          "tags": {}})
TARGETS = {"GetApp vs moto": 5.0, "GetApp vs bare": 0.5, "endpoints/s": 20_000}


# -- request pools (top-level functions: each client process calls them after forking) ------

def endpoint_request(n: int, user: str) -> dict:
    """A typical endpoint: an email address, a user, a few attributes, metrics and location."""
    return {
        "ChannelType": "EMAIL",
        "Address": f"{user}.{n}@example.com",
        "Attributes": {"interests": ["music", "travel"], "tier": ["gold" if n % 3 else "silver"]},
        "Demographic": {"Platform": "ios", "Make": "Apple", "Locale": "en_US", "Timezone": "Europe/Paris"},
        "Location": {"Country": "FR", "City": "Paris", "Latitude": 48.8566, "Longitude": 2.3522},
        "Metrics": {"visits": float(n % 50)},
        "OptOut": "NONE",
        "User": {"UserId": user, "UserAttributes": {"plan": ["pro"]}},
    }


def get_app_requests(app_id: str, client: int):
    return [("GET", f"/v1/apps/{app_id}", None)]


def get_endpoint_requests(app_id: str, endpoint_ids: list[str], client: int):
    shift = client * 997 % len(endpoint_ids)  # processes walk the ids from different places
    ordered = endpoint_ids[shift:] + endpoint_ids[:shift]
    return [("GET", f"/v1/apps/{app_id}/endpoints/{e}", None) for e in ordered]


def update_endpoint_requests(app_id: str, client: int):
    return [("PUT", f"/v1/apps/{app_id}/endpoints/u{client}-{n}",
             orjson.dumps(endpoint_request(n, f"user-u{client}-{n}")))
            for n in range(UPDATE_POOL)]


def batch_body(prefix: str, first: int) -> bytes:
    items = [{"Id": f"{prefix}-{n}", **endpoint_request(n, f"user-{prefix}-{n}")}
             for n in range(first, first + BATCH_SIZE)]
    return orjson.dumps({"Item": items})


def batch_requests(app_id: str, client: int):
    return [("PUT", f"/v1/apps/{app_id}/endpoints", batch_body(f"b{client}", i * BATCH_SIZE))
            for i in range(BATCH_POOL)]


# -- targets -------------------------------------------------------------------------------

def pinpoint(url: str):
    return boto3.client("pinpoint", endpoint_url=url, region_name=REGION, aws_access_key_id=CREDS.key_id,
                        aws_secret_access_key=CREDS.secret,
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def not_implemented(call) -> str:
    """'' when `call()` works; the reason to skip the phase when the server answers 501."""
    try:
        call()
        return ""
    except ClientError as error:
        if error.response["ResponseMetadata"]["HTTPStatusCode"] == 501:
            return "501 not implemented"
        raise


def bench_clarion(load: Load, workdir: Path) -> list[Result]:
    port = free_port()
    env = {**os.environ, "CLARION_ACCESS_KEY_ID": CREDS.key_id, "CLARION_SECRET_ACCESS_KEY": CREDS.secret,
           "CLARION_REGION": REGION}
    argv = [sys.executable, "-m", "clarion", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(workdir / "clarion-data")]
    with Server("clarion", argv, port, workdir, env=env, ready_path="/healthz") as server:
        client = pinpoint(server.url)
        app_id = client.create_app(CreateApplicationRequest={"Name": "bench"})["ApplicationResponse"]["Id"]
        phase = functools.partial(run_phase, target="clarion", host=server.host, port=port, creds=CREDS, load=load,
                                  server_pid=server.pid)
        results = [phase("GetApp", make_requests=functools.partial(get_app_requests, app_id))]
        seed_ids = [f"seed-{n}" for n in range(SEED_ENDPOINTS)]
        batch_missing = not_implemented(lambda: seed(client, app_id, seed_ids))
        get_missing = batch_missing or not_implemented(
            lambda: client.get_endpoint(ApplicationId=app_id, EndpointId=seed_ids[0]))
        results.append(skipped("GetEndpoint", get_missing) or phase(
            "GetEndpoint", make_requests=functools.partial(get_endpoint_requests, app_id, seed_ids)))
        update_missing = not_implemented(lambda: client.update_endpoint(
            ApplicationId=app_id, EndpointId="probe", EndpointRequest=endpoint_request(0, "probe")))
        results.append(skipped("UpdateEndpoint", update_missing) or phase(
            "UpdateEndpoint", make_requests=functools.partial(update_endpoint_requests, app_id)))
        results.append(skipped("UpdateEndpointsBatch", batch_missing) or phase(
            "UpdateEndpointsBatch", make_requests=functools.partial(batch_requests, app_id),
            items_per_request=BATCH_SIZE))
    return results


def seed(client, app_id: str, endpoint_ids: list[str]) -> None:
    for i in range(0, len(endpoint_ids), BATCH_SIZE):
        items = [{"Id": e, **endpoint_request(n, f"seed-user-{n}")}
                 for n, e in enumerate(endpoint_ids[i:i + BATCH_SIZE], start=i)]
        client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items})


def skipped(operation: str, reason: str) -> Result | None:
    return Result(operation, "clarion", skipped=reason) if reason else None


def bench_moto(load: Load, workdir: Path) -> Result:
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with Server("moto", argv, port, workdir, ready_path="/moto-api/") as server:
        app_id = pinpoint(server.url).create_app(
            CreateApplicationRequest={"Name": "bench"})["ApplicationResponse"]["Id"]
        return run_phase("GetApp", "moto", server.host, port, CREDS,
                         functools.partial(get_app_requests, app_id), load, server_pid=server.pid)


def bench_bare(load: Load, workdir: Path) -> Result:
    port = free_port()
    argv = [sys.executable, __file__, "--serve-bare", str(port)]
    with Server("bare", argv, port, workdir) as server:
        return run_phase("GET fixed JSON", "bare starlette", server.host, port, CREDS,
                         functools.partial(get_app_requests, "0" * 32), load, server_pid=server.pid)


def serve_bare(port: int) -> None:
    """The floor: Starlette routing + uvicorn, an async handler, a constant body."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def get_app(request):
        return Response(BARE_BODY, media_type="application/json")

    app = Starlette(routes=[Route("/v1/apps/{application_id}", get_app)])
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


# -- report --------------------------------------------------------------------------------

def ratios(results: list[Result]) -> list[str]:
    def find(operation, target):
        return next((r for r in results if r.operation == operation and r.target == target and not r.skipped), None)

    ours, moto, bare = find("GetApp", "clarion"), find("GetApp", "moto"), find("GET fixed JSON", "bare starlette")
    batch = find("UpdateEndpointsBatch", "clarion")
    lines = []
    for label, other in (("GetApp vs moto", moto), ("GetApp vs bare", bare)):
        if ours and other and other.rps:
            ratio, goal = ours.rps / other.rps, TARGETS[label]
            line = f"{label:<28} {ratio:8.2f}x requests/s   (target >= {goal}x: {verdict(ratio >= goal)})"
            if ours.cpu_us_per_request and other.cpu_us_per_request:
                line += f"; by server CPU per request: {other.cpu_us_per_request / ours.cpu_us_per_request:.2f}x"
            lines.append(line)
    if batch:
        eps, goal = batch.items_per_second, TARGETS["endpoints/s"]
        lines.append(f"{'UpdateEndpointsBatch':<28} {eps:8,.0f} endpoints/s   (target >= {goal:,}: "
                     f"{verdict(eps >= goal)})")
    elif any(r.target == "clarion" for r in results):
        lines.append(f"{'UpdateEndpointsBatch':<28} not measured (the operation is not implemented yet)")
    return lines


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def run_round(targets: set[str], load: Load) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="clarion-bench-") as tmp:
        workdir = Path(tmp)
        results = bench_clarion(load, workdir) if "clarion" in targets else []
        results += [bench_moto(load, workdir)] if "moto" in targets else []
        results += [bench_bare(load, workdir)] if "bare" in targets else []
    return results


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_options(parser)
    parser.add_argument("--targets", default="clarion,moto,bare",
                        help="comma-separated subset of clarion,moto,bare to run (default: all three)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run everything this many times and keep each phase's best (default 1); "
                             "a busy machine only ever makes figures lower")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.serve_bare:
        return serve_bare(args.serve_bare)
    load = Load(args.clients, args.connections, args.warmup, args.seconds)
    if os.getloadavg()[0] > 0.5:
        print("note: the machine is already busy; throughput will read low and noisy, "
              "CPU us/req less so", flush=True)
    print(f"bench/api.py: {machine_line()}; Python {platform.python_version()}; {load.clients} client "
          f"processes x {load.connections} connections; {load.warmup:g}s warm-up + {load.seconds:g}s per phase"
          f"{f', best of {args.rounds} rounds' if args.rounds > 1 else ''}",
          flush=True)
    targets = set(args.targets.split(","))
    best: dict[tuple[str, str], Result] = {}
    for _ in range(args.rounds):
        for result in run_round(targets, load):
            key = (result.operation, result.target)
            if key not in best or result.rps > best[key].rps:
                best[key] = result
    results = list(best.values())
    print()
    print(format_table(results))
    print(f"(after: {machine_line()})")
    print()
    print("\n".join(ratios(results)))
    for r in results:
        if r.errors:
            print(f"\n{r.target} {r.operation}: {r.errors} error responses, first: {r.first_error}")


if __name__ == "__main__":
    main()
