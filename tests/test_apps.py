"""Apps through boto3 against a live server, on both store backends."""

import pytest
from botocore.exceptions import ClientError


def test_create_get_and_list_apps(client):
    created = client.create_app(CreateApplicationRequest={"Name": "shop", "tags": {"team": "growth"}})
    app = created["ApplicationResponse"]
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert len(app["Id"]) == 32 and app["Id"] == app["Id"].lower()
    assert app["Arn"] == f"arn:aws:mobiletargeting:us-east-1:000000000000:apps/{app['Id']}"
    assert app["Name"] == "shop" and app["tags"] == {"team": "growth"}
    assert app["CreationDate"].endswith("Z")
    assert client.get_app(ApplicationId=app["Id"])["ApplicationResponse"] == app


def test_get_apps_pages_through_every_app_once(client):
    ids = {client.create_app(CreateApplicationRequest={"Name": f"a{i}"})["ApplicationResponse"]["Id"]
           for i in range(7)}
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"PageSize": "3"} | ({"Token": token} if token else {})
        page = client.get_apps(**kwargs)["ApplicationsResponse"]
        seen += [a["Id"] for a in page["Item"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(ids) and pages == 3


def test_delete_app_removes_it(client, app_id):
    deleted = client.delete_app(ApplicationId=app_id)["ApplicationResponse"]
    assert deleted["Id"] == app_id
    with pytest.raises(ClientError) as err:
        client.get_app(ApplicationId=app_id)
    assert err.value.response["Error"]["Code"] == "NotFoundException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert app_id not in [a["Id"] for a in client.get_apps()["ApplicationsResponse"]["Item"]]


@pytest.mark.parametrize("size", ["0", "abc", "-1"])
def test_bad_page_size_is_a_400(client, size):
    with pytest.raises(client.exceptions.BadRequestException):
        client.get_apps(PageSize=size)
