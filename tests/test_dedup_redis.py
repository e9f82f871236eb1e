"""Distributed near-duplicate detection: curate workers sharing one Redis-backed MinHash LSH.

Two worker processes screen disjoint shards of real records plus planted near-duplicates (pairs that
straddle the shards, and a chain A~B, B~C, A!~C; see tests/test_curate_workers.py) against one real
redis-server, and must find exactly the duplicates that one process finds with the in-memory index.
"""

import socket
from dataclasses import replace

import pytest
import redis

from lingshu.data.curate import Curator
from tests.services import free_port, redis_server
from tests.test_curate_workers import check_planted, outcome, planted_config

VARIABLE = "LINGSHU_TEST_REDIS_URL"


def test_two_workers_on_one_redis_find_the_duplicates_of_one_process(curate_cfg, tmp_path, repo, monkeypatch):
    cfg = replace(planted_config(curate_cfg, tmp_path), redis_url_env=VARIABLE)
    expected = outcome(Curator(replace(cfg, workers=1, lsh_storage="memory"), repo).run())
    with redis_server(tmp_path / "redis") as url:
        monkeypatch.setenv(VARIABLE, url)
        client = redis.Redis.from_url(url)
        client.set(b"someone-else", b"untouched")
        curator = Curator(replace(cfg, workers=2, lsh_storage="redis", image_store=str(tmp_path / "images2")), repo)
        result = curator.run()
        assert client.keys() == [b"someone-else"], "the run deletes its own keys and only those"
    assert outcome(result) == expected
    check_planted(curator, result)


def test_redis_without_the_variable_is_a_clear_error(curate_cfg, repo, monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    cfg = replace(curate_cfg, lsh_storage="redis", redis_url_env=VARIABLE)
    with pytest.raises(ValueError, match=f"'{VARIABLE}' \\(named by curate.redis_url_env\\) is not set"):
        Curator(cfg, repo).run()


def test_an_unreachable_redis_is_a_clear_error_without_the_password(curate_cfg, repo, monkeypatch):
    port = free_port()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens there
    monkeypatch.setenv(VARIABLE, f"redis://user:s3cret@127.0.0.1:{port}/0")
    cfg = replace(curate_cfg, lsh_storage="redis", redis_url_env=VARIABLE)
    with pytest.raises(ValueError, match=f"curate.redis_url_env.*127.0.0.1:{port}.*does not answer") as error:
        Curator(cfg, repo).run()
    assert "s3cret" not in str(error.value)


def test_an_unknown_storage_is_rejected(curate_cfg, repo):
    with pytest.raises(ValueError, match="curate.lsh_storage must be one of memory, redis"):
        Curator(replace(curate_cfg, lsh_storage="cassandra"), repo).run()
