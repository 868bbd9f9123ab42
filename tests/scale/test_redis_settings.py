"""REDIS_URL and the scale-out settings: checked at start, never shown with their password."""

from __future__ import annotations

import pytest

from service.basics.errors import ConfigError
from service.settings.config import describe
from tests.factories import make_settings

ENV = {"DATABRICKS_HOST": "https://ws.test", "DATABRICKS_TOKEN": "dapi-test-token"}


def test_check_config_shows_where_redis_is_but_not_its_password():
    settings = make_settings(environ={**ENV, "REDIS_URL": "redis://:hunter2@cache.internal:6380/2"})
    shown = describe(settings)
    assert shown["redis"] == "redis://cache.internal:6380/2"
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(shown)


@pytest.mark.parametrize("url", ["http://cache:6379", "cache:6379", "redis://cache:port"])
def test_a_redis_url_that_is_not_one_is_refused_at_start(url):
    with pytest.raises(ConfigError, match="REDIS_URL"):
        make_settings(environ={**ENV, "REDIS_URL": url})


def test_without_redis_url_nothing_is_shared():
    assert make_settings(environ=ENV).redis_url is None
    assert describe(make_settings(environ=ENV))["redis"] is None


def test_more_than_one_worker_needs_redis_url(tmp_path):
    with pytest.raises(ConfigError, match="workers = 3 needs REDIS_URL"):
        make_settings("workers = 3\n", environ=ENV, tmp_path=tmp_path)
    with_redis = {**ENV, "REDIS_URL": "redis://127.0.0.1:6379/0"}
    assert make_settings("workers = 3\n", environ=with_redis, tmp_path=tmp_path).workers == 3
