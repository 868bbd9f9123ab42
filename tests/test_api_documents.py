"""The API document, built once per view (the jobs a caller may view) and served as bytes."""

from __future__ import annotations

import msgspec

from service.api_documents import ApiDocuments
from service.openapi import openapi_document
from service.routes import routes
from tests.factories import make_settings

JOBS = make_settings().jobs  # etl, report, other


def test_a_view_s_document_is_the_generated_one_built_once():
    documents, table = ApiDocuments("1.2.3"), routes()
    first = documents.encoded(table, JOBS)
    again = documents.encoded(table, dict(JOBS))
    assert first is again
    assert documents.built == 1
    assert msgspec.json.decode(first) == msgspec.json.decode(
        msgspec.json.encode(openapi_document(table, JOBS, version="1.2.3"))
    )


def test_each_view_has_its_own_document():
    documents, table = ApiDocuments("1"), routes()
    everything = documents.encoded(table, JOBS)
    only_etl = documents.encoded(table, {"etl": JOBS["etl"]})
    assert "/api/jobs/report/run" in msgspec.json.decode(everything)["paths"]
    assert "/api/jobs/report/run" not in msgspec.json.decode(only_etl)["paths"]
    assert documents.built == 2


def test_the_views_kept_are_bounded_the_least_recently_used_going_first():
    documents, table = ApiDocuments("1", max_views=2), routes()
    views = [{key: JOBS[key]} for key in ("etl", "report", "other")]
    for view in (views[0], views[1], views[0], views[2]):  # report is the least recent
        documents.encoded(table, view)
    assert documents.built == 3
    documents.encoded(table, views[0])
    assert documents.built == 3
    documents.encoded(table, views[1])
    assert documents.built == 4
