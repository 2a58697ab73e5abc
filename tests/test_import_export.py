"""Import and export jobs end to end: files and S3 (moto's server on loopback), through boto3,
on both store backends; resuming after a lost lease; export -> import round trip."""

from __future__ import annotations

import gzip
import json
import time
import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer

from clarion.runtime.worker import Progress
from clarion.transfer import imports

from .conftest import free_port

CSV = """ChannelType,Address,Id,Location.Country,Demographic.Platform,User.UserId,User.UserAttributes.plan,Attributes.interests,Attributes.interests,Metrics.score,OptOut
EMAIL,ada@example.com,ada-mail,GB,web,ada,pro,maths,engines,99,NONE
SMS,+14155550100,,US,ios,grace,free,navy,,7,NONE
  ,no-channel-type,x1,,,,,,,,
PUSH,tok,,FR,android,,,,,not-a-number,
EMAIL,linus@example.com,,FI,,linus,,kernels,,3,ALL
"""


def wait_for_job(get, job_id: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        job = get(job_id)
        if job["JobStatus"] in ("COMPLETED", "FAILED") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def import_job(client, app_id, url, fmt="CSV", **extra):
    created = client.create_import_job(ApplicationId=app_id, ImportJobRequest={
        "Format": fmt, "S3Url": url, "RoleArn": "arn:aws:iam::000000000000:role/import", **extra})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    job = created["ImportJobResponse"]
    assert job["JobStatus"] == "CREATED" and job["Type"] == "IMPORT"
    return wait_for_job(lambda i: client.get_import_job(ApplicationId=app_id, JobId=i)["ImportJobResponse"],
                        job["Id"])


def export_job(client, app_id, prefix, **extra):
    created = client.create_export_job(ApplicationId=app_id, ExportJobRequest={
        "S3UrlPrefix": prefix, "RoleArn": "arn:aws:iam::000000000000:role/export", **extra})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    return wait_for_job(lambda i: client.get_export_job(ApplicationId=app_id, JobId=i)["ExportJobResponse"],
                        created["ExportJobResponse"]["Id"])


def app_endpoints(client, app_id, ids):
    return {i: client.get_endpoint(ApplicationId=app_id, EndpointId=i)["EndpointResponse"] for i in ids}


def test_csv_import_registers_endpoints_counts_bad_rows_and_is_idempotent(client, app_id, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "people.csv").write_text(CSV)
    (tmp_path / "in" / "ignored.json").write_text("{}")  # only files of the job's format are read
    job = import_job(client, app_id, f"file://{tmp_path / 'in'}", RegisterEndpoints=True,
                     DefineSegment=True, SegmentName="imported people")
    assert job["JobStatus"] == "COMPLETED", job
    assert job["TotalPieces"] == 1 and job["CompletedPieces"] == 1
    assert job["TotalProcessed"] == 5 and job["TotalFailures"] == 2
    assert any("line 3" in f for f in job["Failures"]) and any("line 4" in f and "number" in f
                                                                 for f in job["Failures"])
    ada = client.get_endpoint(ApplicationId=app_id, EndpointId="ada-mail")["EndpointResponse"]
    assert ada["Attributes"]["interests"] == ["maths", "engines"]  # repeated header = several values
    assert ada["User"] == {"UserId": "ada", "UserAttributes": {"plan": ["pro"]}}
    assert ada["Metrics"] == {"score": 99.0} and ada["Location"]["Country"] == "GB"

    segment_id = job["Definition"]["SegmentId"]
    segment = client.get_segment(ApplicationId=app_id, SegmentId=segment_id)["SegmentResponse"]
    assert segment["SegmentType"] == "IMPORT" and segment["Name"] == "imported people"
    assert segment["ImportDefinition"]["Size"] == 3
    assert segment["ImportDefinition"]["ChannelCounts"] == {"EMAIL": 2, "SMS": 1}
    listed = client.get_segment_import_jobs(ApplicationId=app_id, SegmentId=segment_id)["ImportJobsResponse"]
    assert [j["Id"] for j in listed["Item"]] == [job["Id"]]

    again = import_job(client, app_id, f"file://{tmp_path / 'in' / 'people.csv'}", RegisterEndpoints=True)
    assert again["JobStatus"] == "COMPLETED" and again["TotalFailures"] == 2
    users = {u: client.get_user_endpoints(ApplicationId=app_id, UserId=u)["EndpointsResponse"]["Item"]
             for u in ("ada", "grace", "linus")}
    assert {u: len(items) for u, items in users.items()} == {"ada": 1, "grace": 1, "linus": 1}
    jobs = client.get_import_jobs(ApplicationId=app_id)["ImportJobsResponse"]["Item"]
    assert [j["Id"] for j in jobs] == [again["Id"], job["Id"]]  # newest first


def test_user_id_only_file_defines_a_segment_of_their_endpoints(client, app_id, tmp_path):
    for i, user in enumerate(["u1", "u1", "u2", "u3"]):
        client.update_endpoint(ApplicationId=app_id, EndpointId=f"e{i}", EndpointRequest={
            "ChannelType": "EMAIL", "Address": f"e{i}@example.com", "User": {"UserId": user}})
    (tmp_path / "users.csv").write_text("User.UserId\nu1\nu3\nnobody\n")
    job = import_job(client, app_id, f"file://{tmp_path / 'users.csv'}", DefineSegment=True, SegmentName="vip")
    assert job["JobStatus"] == "COMPLETED" and job["TotalFailures"] == 0
    segment = client.get_segment(ApplicationId=app_id, SegmentId=job["Definition"]["SegmentId"])["SegmentResponse"]
    assert segment["ImportDefinition"]["Size"] == 3  # u1's two endpoints and u3's one


def test_missing_source_fails_the_job_with_a_reason(client, app_id, tmp_path):
    job = import_job(client, app_id, f"file://{tmp_path / 'nowhere'}", RegisterEndpoints=True)
    assert job["JobStatus"] == "FAILED" and "No CSV files found" in job["Failures"][0]


@pytest.mark.parametrize("request_body,message", [
    ({"Format": "CSV", "S3Url": "ftp://x/y"}, "Unsupported URL"),
    ({"Format": "CSV", "S3Url": "s3://b/k"}, "RegisterEndpoints, DefineSegment"),
    ({"Format": "CSV", "S3Url": "s3://b/k", "DefineSegment": True}, "SegmentName"),
    ({"Format": "XML", "S3Url": "s3://b/k", "RegisterEndpoints": True}, "Format"),
])
def test_bad_import_requests_are_refused(client, app_id, request_body, message):
    with pytest.raises(client.exceptions.BadRequestException) as err:
        client.create_import_job(ApplicationId=app_id, ImportJobRequest={"RoleArn": "arn:aws:iam::0:role/r",
                                                                          **request_body})
    assert message in err.value.response["Error"]["Message"]
    assert client.get_import_jobs(ApplicationId=app_id)["ImportJobsResponse"]["Item"] == []


@pytest.fixture
def s3(monkeypatch):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    for name, value in {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}")
    client.bucket = "audience-" + uuid.uuid4().hex[:8]  # moto's state outlives the server: no sharing
    client.create_bucket(Bucket=client.bucket)
    yield client
    server.stop()


def test_s3_json_import_export_round_trip(client, app_id, s3):
    people = [{"Id": f"p{i}", "ChannelType": "EMAIL", "Address": f"p{i}@example.com",
               "Attributes": {"team": [f"t{i % 3}"]}, "Metrics": {"visits": float(i)},
               "Demographic": {"Platform": "web", "Timezone": "Europe/Paris"},
               "Location": {"Country": "FR", "City": "Paris"},
               "User": {"UserId": f"user{i % 4}", "UserAttributes": {"tier": ["gold" if i % 2 else "silver"]}}}
              for i in range(25)]
    s3.put_object(Bucket=s3.bucket, Key="in/a/part1.json",
                  Body="\n".join(json.dumps(p) for p in people[:10]).encode())
    s3.put_object(Bucket=s3.bucket, Key="in/b/part2.json.gz",
                  Body=gzip.compress("\n".join(json.dumps(p) for p in people[10:]).encode()))
    job = import_job(client, app_id, f"s3://{s3.bucket}/in/", fmt="JSON", RegisterEndpoints=True)
    assert job["JobStatus"] == "COMPLETED" and job["TotalPieces"] == 2 and job["TotalProcessed"] == 25, job

    exported = export_job(client, app_id, f"s3://{s3.bucket}/out")
    assert exported["JobStatus"] == "COMPLETED" and exported["TotalProcessed"] == 25, exported
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3.bucket, Prefix="out/")["Contents"]]
    assert keys == [f"out/{exported['Id']}/part-00000.json.gz"]

    fresh = client.create_app(CreateApplicationRequest={"Name": "copy"})["ApplicationResponse"]["Id"]
    copied = import_job(client, fresh, f"s3://{s3.bucket}/out/{exported['Id']}/", fmt="JSON", RegisterEndpoints=True)
    assert copied["JobStatus"] == "COMPLETED" and copied["TotalFailures"] == 0
    ids = [p["Id"] for p in people]
    server_kept = ("ApplicationId", "CohortId", "CreationDate", "EffectiveDate", "RequestId")
    strip = lambda e: {k: v for k, v in e.items() if k not in server_kept}  # noqa: E731
    assert {i: strip(e) for i, e in app_endpoints(client, fresh, ids).items()} == \
        {i: strip(e) for i, e in app_endpoints(client, app_id, ids).items()}


def test_export_of_a_segment_version(client, app_id, tmp_path):
    for i in range(6):
        client.update_endpoint(ApplicationId=app_id, EndpointId=f"e{i}", EndpointRequest={
            "ChannelType": "EMAIL", "Address": f"e{i}@example.com",
            "Location": {"Country": "US" if i % 2 else "CA"}})
    segment = client.create_segment(ApplicationId=app_id, WriteSegmentRequest={
        "Name": "us", "Dimensions": {"Location": {"Country": {"Values": ["US"]}}}})["SegmentResponse"]
    client.update_segment(ApplicationId=app_id, SegmentId=segment["Id"], WriteSegmentRequest={
        "Dimensions": {"Location": {"Country": {"Values": ["CA"]}}}})
    job = export_job(client, app_id, f"file://{tmp_path}/out", SegmentId=segment["Id"], SegmentVersion=1)
    assert job["JobStatus"] == "COMPLETED"
    lines = gzip.decompress((tmp_path / "out" / job["Id"] / "part-00000.json.gz").read_bytes()).splitlines()
    assert sorted(json.loads(line)["Id"] for line in lines) == ["e1", "e3", "e5"]
    listed = client.get_segment_export_jobs(ApplicationId=app_id, SegmentId=segment["Id"])["ExportJobsResponse"]
    assert [j["Id"] for j in listed["Item"]] == [job["Id"]]


def test_a_stopped_import_resumes_without_losing_or_double_counting(service, tmp_path, monkeypatch):
    """A worker that stops mid-file (lost lease, shutdown, crash) leaves the saved position;
    the next worker carries on from it."""
    from clarion.operations import Caller, Context
    from clarion.operations.apps import create_app
    from clarion.operations.jobs import create_import_job, get_import_job

    monkeypatch.setattr(imports, "CHUNK", 10)
    rows = "\n".join(f"EMAIL,u{i}@example.com,u{i}" for i in range(95))
    (tmp_path / "big.csv").write_text("ChannelType,Address,Id\n" + rows + "\n")
    ctx = Context(service, Caller("test"), "req")
    app = create_app(ctx, {"Name": "resume"})["Id"]
    job = create_import_job(ctx, app, {"Format": "CSV", "S3Url": f"file://{tmp_path}/big.csv",
                                       "RoleArn": "r", "RegisterEndpoints": True})
    claimed = service.queue.claim("first-worker", ["import"])
    saves = []

    class StopsAfterThreeChunks(Progress):
        def save(self, checkpoint):
            saves.append(checkpoint)
            return len(saves) < 3

    imports.run_import(service, claimed, StopsAfterThreeChunks(service.queue, claimed, service.workers.stopping))
    halfway = get_import_job(ctx, app, job["Id"])
    assert halfway["JobStatus"] == "PROCESSING" and halfway["TotalProcessed"] == 30

    service.clock = service.queue.clock = _Later(service.clock)  # the first worker's lease runs out
    assert service.workers.drain() == 1
    done = get_import_job(ctx, app, job["Id"])
    assert done["JobStatus"] == "COMPLETED" and done["TotalProcessed"] == 95 and done["TotalFailures"] == 0


class _Later:
    def __init__(self, clock):
        self.clock = clock

    def now(self):
        from datetime import timedelta

        return self.clock.now() + timedelta(minutes=5)
