"""`clarion segments size` on a data dir whose segments and endpoints were made through the API
of a live server on the same store; it must answer what the size extension API answers."""

from __future__ import annotations


import orjson
import pytest
from click.testing import CliRunner

from clarion.cli import main

from .test_segments import signed_get

ENDPOINTS = [
    {"Id": "fr-mail-1", "ChannelType": "EMAIL", "Address": "a@example.com", "Location": {"Country": "FR"}},
    {"Id": "fr-mail-2", "ChannelType": "EMAIL", "Address": "b@example.com", "Location": {"Country": "FR"}},
    {"Id": "fr-mail-optout", "ChannelType": "EMAIL", "Address": "c@example.com", "Location": {"Country": "FR"},
     "OptOut": "ALL"},
    {"Id": "fr-sms", "ChannelType": "SMS", "Address": "+33600000001", "Location": {"Country": "FR"},
     "User": {"UserId": "marie"}},
    {"Id": "fr-push-inactive", "ChannelType": "GCM", "Address": "token-1", "Location": {"Country": "FR"},
     "EndpointStatus": "INACTIVE"},
    {"Id": "us-mail", "ChannelType": "EMAIL", "Address": "d@example.com", "Location": {"Country": "US"}},
    {"Id": "us-sms", "ChannelType": "SMS", "Address": "+15550000001", "Location": {"Country": "US"}},
]
FRANCE = {"Location": {"Country": {"Values": ["FR"]}}}
US = {"Location": {"Country": {"Values": ["US"]}}}


def clarion(settings, *args: str, exit_code: int = 0) -> str:
    """The CLI on the service's data dir and store, with nothing else from the environment."""
    env = {"CLARION_DATABASE_URL": settings.database_url, "CLARION_ACCESS_KEY_ID": None,
           "CLARION_SECRET_ACCESS_KEY": None, "CLARION_DATA_DIR": None, "CLARION_MASTER_KEY": None}
    result = CliRunner().invoke(main, [*args, "--data-dir", str(settings.data_dir)], env=env)
    assert result.exit_code == exit_code, result.output
    return result.output


@pytest.fixture
def france(server, client, app_id):
    """The live server's settings, the app, and a segment of the endpoints in France."""
    client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": ENDPOINTS})
    segment = client.create_segment(ApplicationId=app_id, WriteSegmentRequest={"Name": "fr", "Dimensions": FRANCE})
    return server.service.settings, app_id, segment["SegmentResponse"]["Id"]


def row(output: str, label: str) -> list[str]:
    """The cells of the table row whose first cell is `label`."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0] == label:
            return cells
    raise AssertionError(f"no row {label!r} in:\n{output}")


def test_size_prints_counts_per_channel_and_a_sample(france):
    settings, app_id, segment_id = france
    output = clarion(settings, "segments", "size", "--app", app_id, segment_id, "--sample", "3")
    assert f"Segment {segment_id} version 1 of app {app_id}" in output
    assert row(output, "total") == ["total", "5"]
    assert row(output, "eligible (active, opted in)") == ["eligible (active, opted in)", "3"]
    assert row(output, "eligible EMAIL") == ["eligible EMAIL", "2"]
    assert row(output, "eligible SMS") == ["eligible SMS", "1"]
    assert "eligible GCM" not in output  # its only member is INACTIVE
    # The first three members by endpoint id; the sample shows every member, eligible or not.
    assert row(output, "fr-mail-1") == ["fr-mail-1", "EMAIL", "a@example.com", "ACTIVE", "NONE", ""]
    assert row(output, "fr-mail-optout") == ["fr-mail-optout", "EMAIL", "c@example.com", "ACTIVE", "ALL", ""]
    assert "fr-mail-2" in output
    assert "fr-push-inactive" not in output and "fr-sms" not in output and "us-mail" not in output


def test_json_is_what_the_extension_api_answers(france, server):
    settings, app_id, segment_id = france
    cli = orjson.loads(clarion(settings, "segments", "size", "--app", app_id, segment_id, "--sample", "100",
                               "--json"))
    api = signed_get(server, f"/v1/apps/{app_id}/segments/{segment_id}/size?sample=100")
    assert api.status_code == 200
    assert cli == api.json()
    assert cli["EligibleByChannel"] == {"EMAIL": 2, "SMS": 1}
    assert [e["Id"] for e in cli["Sample"]] == ["fr-mail-1", "fr-mail-2", "fr-mail-optout", "fr-push-inactive",
                                                "fr-sms"]
    assert cli["Sample"][4]["User"] == {"UserId": "marie"}


def test_version_picks_the_definition_to_evaluate(france, client):
    settings, app_id, segment_id = france
    client.update_segment(ApplicationId=app_id, SegmentId=segment_id, WriteSegmentRequest={"Dimensions": US})
    latest = orjson.loads(clarion(settings, "segments", "size", "--app", app_id, segment_id, "--json"))
    first = orjson.loads(clarion(settings, "segments", "size", "--app", app_id, segment_id, "--version", "1",
                                 "--json"))
    assert (latest["Version"], latest["Total"], latest["EligibleByChannel"]) == (2, 2, {"EMAIL": 1, "SMS": 1})
    assert (first["Version"], first["Total"], first["Eligible"]) == (1, 5, 3)
    assert len(latest["Sample"]) == 2  # the default sample is 10


def test_sample_zero_prints_only_the_counts(france):
    settings, app_id, segment_id = france
    output = clarion(settings, "segments", "size", "--app", app_id, segment_id, "--sample", "0")
    assert row(output, "total") == ["total", "5"]
    assert "Sample" not in output and "fr-mail-1" not in output


@pytest.mark.parametrize("args,message", [
    (["--version", "7"], "version 7 not found"),  # the segment has only version 1
    (["--app", "f" * 32], "Error: Application not found"),
])
def test_unknown_app_or_version_is_a_clear_error(france, args, message):
    settings, app_id, segment_id = france
    base = ["--app", app_id] if "--app" not in args else []
    output = clarion(settings, "segments", "size", *base, *args, segment_id, exit_code=1)
    assert message in output
    assert "Traceback" not in output


def test_unknown_segment_and_bad_options(france):
    settings, app_id, _ = france
    output = clarion(settings, "segments", "size", "--app", app_id, "0" * 32, exit_code=1)
    assert f"Error: Segment {'0' * 32} not found" in output
    too_many = clarion(settings, "segments", "size", "--app", app_id, "x", "--sample", "101", exit_code=2)
    assert "'--sample': 101 is not in the range 0<=x<=100" in too_many
    assert "'--version': 0 is not in the range x>=1" in clarion(
        settings, "segments", "size", "--app", app_id, "x", "--version", "0", exit_code=2)
    missing_app = clarion(settings, "segments", "size", "x", exit_code=2)
    assert "Missing option '--app'" in missing_app
