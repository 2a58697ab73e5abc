"""Tags through boto3 against a live server, on both store backends."""

from __future__ import annotations

import pytest

from clarion.store import keys as key_store
from clarion.store import tags as tag_store

PREFIX = "arn:aws:mobiletargeting:us-east-1:000000000000"


def _arn(app_id: str) -> str:
    return f"{PREFIX}:apps/{app_id}"


def _tags(client, arn: str) -> dict:
    return client.list_tags_for_resource(ResourceArn=arn)["TagsModel"]["tags"]


def _message(excinfo) -> str:
    return excinfo.value.response["Error"]["Message"]


def test_tag_merge_untag_and_list_an_app(client, app_id):
    arn = _arn(app_id)
    assert _tags(client, arn) == {}
    tagged = client.tag_resource(ResourceArn=arn, TagsModel={"tags": {"team": "growth", "env": "prod"}})
    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    client.tag_resource(ResourceArn=arn, TagsModel={"tags": {"env": "staging", "cost": ""}})
    assert _tags(client, arn) == {"team": "growth", "env": "staging", "cost": ""}
    assert client.get_app(ApplicationId=app_id)["ApplicationResponse"]["tags"] == _tags(client, arn)

    untagged = client.untag_resource(ResourceArn=arn, TagKeys=["team", "cost", "absent"])
    assert untagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert _tags(client, arn) == {"env": "staging"}
    client.untag_resource(ResourceArn=arn, TagKeys=["env"])
    assert _tags(client, arn) == {} and client.get_app(ApplicationId=app_id)["ApplicationResponse"]["tags"] == {}


def test_create_app_tags_are_listed_and_an_upper_case_id_names_the_same_app(client):
    created = client.create_app(CreateApplicationRequest={"Name": "shop", "tags": {"team": "growth"}})
    app = created["ApplicationResponse"]
    assert _tags(client, app["Arn"]) == {"team": "growth"}
    client.tag_resource(ResourceArn=_arn(app["Id"].upper()), TagsModel={"tags": {"env": "prod"}})
    assert client.get_app(ApplicationId=app["Id"])["ApplicationResponse"]["tags"] == {"team": "growth", "env": "prod"}


@pytest.mark.parametrize("arn, message", [
    ("not-an-arn", "Invalid resource ARN"),
    ("arn:aws:sns:us-east-1:000000000000:apps/abc", "Invalid resource ARN"),
    ("arn:aws:mobiletargeting:eu-west-1:000000000000:apps/abc", "region 'eu-west-1'"),
    ("arn:aws:mobiletargeting:us-east-1:123456789012:apps/abc", "account '123456789012'"),
    ("arn:aws-cn:mobiletargeting:us-east-1:000000000000:apps/abc", "partition 'aws-cn'"),
    (f"{PREFIX}:apps/abc/widgets/def", "not a taggable resource"),
    (f"{PREFIX}:apps/", "not a taggable resource"),
    (f"{PREFIX}:templates/welcome/FAX", "not a taggable resource"),
    (f"{PREFIX}:recommenders/abc", "not a taggable resource"),
])
def test_malformed_or_foreign_arns_are_400(client, arn, message):
    for call in (lambda: _tags(client, arn), lambda: client.untag_resource(ResourceArn=arn, TagKeys=["a"]),
                 lambda: client.tag_resource(ResourceArn=arn, TagsModel={"tags": {"a": "b"}})):
        with pytest.raises(client.exceptions.BadRequestException) as excinfo:
            call()
        assert message in _message(excinfo)


@pytest.mark.parametrize("resource", ["apps/{missing}", "apps/{missing}/campaigns/{missing}",
                                      "apps/{missing}/segments/{missing}", "apps/{missing}/journeys/{missing}"])
def test_resources_of_an_unknown_app_are_404(client, resource):
    arn = f"{PREFIX}:" + resource.format(missing="0" * 32)
    for call in (lambda: _tags(client, arn), lambda: client.untag_resource(ResourceArn=arn, TagKeys=["a"]),
                 lambda: client.tag_resource(ResourceArn=arn, TagsModel={"tags": {"a": "b"}})):
        with pytest.raises(client.exceptions.NotFoundException):
            call()


@pytest.mark.parametrize("tags, message", [
    ({f"k{i}": "v" for i in range(51)}, "at most 50 tags"),
    ({"k" * 129: "v"}, "1 to 128 characters"),
    ({"": "v"}, "1 to 128 characters"),
    ({"k": "v" * 257}, "at most 256 characters"),
    ({"aws:owner": "me"}, "reserved prefix"),
    ({"AWS:Owner": "me"}, "reserved prefix"),
])
def test_tag_limits_are_400_and_change_nothing(client, app_id, tags, message):
    arn = _arn(app_id)
    client.tag_resource(ResourceArn=arn, TagsModel={"tags": {"keep": "me"}})
    with pytest.raises(client.exceptions.BadRequestException) as excinfo:
        client.tag_resource(ResourceArn=arn, TagsModel={"tags": tags})
    assert message in _message(excinfo)
    assert _tags(client, arn) == {"keep": "me"}


def test_the_fifty_tag_limit_counts_tags_already_there(client, app_id):
    arn = _arn(app_id)
    client.tag_resource(ResourceArn=arn, TagsModel={"tags": {f"k{i}": "v" for i in range(50)}})
    client.tag_resource(ResourceArn=arn, TagsModel={"tags": {"k0": "replaced"}})  # replacing adds nothing
    with pytest.raises(client.exceptions.BadRequestException):
        client.tag_resource(ResourceArn=arn, TagsModel={"tags": {"one-more": "v"}})
    tags = _tags(client, arn)
    assert len(tags) == 50 and tags["k0"] == "replaced"


def test_a_scoped_key_cannot_touch_another_apps_tags(server, client, service):
    mine = client.create_app(CreateApplicationRequest={"Name": "mine"})["ApplicationResponse"]["Id"]
    theirs = client.create_app(CreateApplicationRequest={"Name": "theirs"})["ApplicationResponse"]["Id"]
    key_id, secret = key_store.new_key_pair()
    with service.store.write() as conn:
        key_store.insert(conn, service.vault, key_id, secret, apps=[mine], description="scoped", root=False,
                         created="2024-01-01T00:00:00.000Z")
    scoped = server.client(key_id, secret)

    scoped.tag_resource(ResourceArn=_arn(mine), TagsModel={"tags": {"team": "growth"}})
    assert _tags(scoped, _arn(mine)) == {"team": "growth"}
    for arn in (_arn(theirs), _arn("0" * 32), f"{_arn(theirs)}/campaigns/{'1' * 32}"):
        for call in (lambda: _tags(scoped, arn), lambda: scoped.untag_resource(ResourceArn=arn, TagKeys=["a"]),
                     lambda: scoped.tag_resource(ResourceArn=arn, TagsModel={"tags": {"a": "b"}})):
            with pytest.raises(scoped.exceptions.ForbiddenException):
                call()
    assert _tags(client, _arn(theirs)) == {}


def test_deleting_the_app_deletes_its_tags(client, app_id, service):
    client.tag_resource(ResourceArn=_arn(app_id), TagsModel={"tags": {"team": "growth"}})
    client.delete_app(ApplicationId=app_id)
    with service.store.read() as conn:
        assert tag_store.get(conn, _arn(app_id)) == {}
