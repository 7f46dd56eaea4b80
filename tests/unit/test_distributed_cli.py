"""`--ray` without a cluster: Ray is never imported by lexir itself, a missing Ray names the extra, and options that
only mean something with --ray (or a sharded index) are refused in one line."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import assert_one_line_error, lexir, write_jsonl


def test_importing_lexir_does_not_import_ray():
    code = ("import sys, lexir, lexir.cli, lexir.index, lexir.search, lexir.api.app, lexir.distributed; "
            "sys.exit('ray' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_ray_missing_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as where it is not installed
    source = write_jsonl(tmp_path / "docs.jsonl")
    failed = lexir("index", "build", source, "--out", tmp_path / "index", "--encoder", "bm25", "--ray", "auto",
                   check=False)
    assert_one_line_error(failed, "--ray needs Ray", "lexir[distributed]")
    assert not (tmp_path / "index").exists()


def test_ray_only_options_need_ray(tmp_path):
    source = write_jsonl(tmp_path / "docs.jsonl")
    failed = lexir("index", "build", source, "--out", tmp_path / "index", "--encoder", "bm25", "--cpus-per-worker",
                   "0.5", check=False)
    assert_one_line_error(failed, "--cpus-per-worker", "--ray")


def test_serve_ray_needs_a_sharded_index_and_replicas_need_ray(tmp_path):
    source = write_jsonl(tmp_path / "docs.jsonl")
    lexir("index", "build", source, "--out", tmp_path / "index", "--encoder", "bm25", "--quiet")
    failed = lexir("serve", tmp_path / "index", "--ray", "auto", check=False)
    assert_one_line_error(failed, "not a sharded index", "--shards")
    assert_one_line_error(lexir("serve", tmp_path / "index", "--replicas", "2", check=False), "--replicas", "--ray")
