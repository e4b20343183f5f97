"""The weights resolver: table, cache, pre-staged folder, checked downloads, offline errors.

Downloads are simulated with a local HTTP server on 127.0.0.1 serving a tiny Keras model's
weights, registered as a fake backbone ``tiny`` (fake table entry + fake registry entry).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import re
import sys
import threading
import types
from pathlib import Path

import pytest

from course_utils import backbones, cli, env, weights
from course_utils.errors import OfflineError, WeightsError

KERAS_APPS = Path(__import__("keras").__file__).parent / "src" / "applications"


def test_table_copies_what_keras_publishes():
    """Every hash (and its URL folder) in the table appears in the installed Keras source."""
    assert set(weights.WEIGHTS) == set(backbones.names())
    for entry in weights.WEIGHTS.values():
        if entry.name == "efficientnet_lite0":
            continue
        module = re.search(r"applications/(\w+\.py)", entry.source).group(1)
        source = (KERAS_APPS / module).read_text()
        for file, url, digest in (entry.file(True), entry.file(False)):
            assert url.endswith(file)
            assert url.rsplit("/", 2)[-2] + "/" in source or "keras-applications/" in url
            if digest is None:  # published without a hash: only MobileNet v1/v2
                assert entry.name in ("mobilenet", "mobilenet_v2")
            else:
                assert len(digest) in (32, 64) and digest in source, (entry.name, file)
        assert entry.licence


# ---------------------------------------------------------------- a fake backbone and server
def _tiny_net(weights=None, include_top=True, **kwargs):
    import keras

    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="features")(inputs)
    if include_top:
        x = keras.layers.Dense(2, name="predictions")(x)
    return keras.Model(inputs, x)


@pytest.fixture()
def served(tmp_path, monkeypatch):
    """Serve a tiny model's weights over HTTP; register it as backbone 'tiny'; go 'online'."""
    root = tmp_path / "server"
    root.mkdir()
    _tiny_net().save_weights(str(root / "tiny.weights.h5"))
    _tiny_net(include_top=False).save_weights(str(root / "tiny_notop.weights.h5"))
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"

    def sha(name):
        return hashlib.sha256((root / name).read_bytes()).hexdigest()

    def register(hashed=True):
        entry = weights.WeightsEntry(
            "tiny", "tiny.weights.h5", base + "tiny.weights.h5",
            sha("tiny.weights.h5") if hashed else None, "tiny_notop.weights.h5",
            base + "tiny_notop.weights.h5", sha("tiny_notop.weights.h5") if hashed else None,
            "MIT", "test")
        monkeypatch.setitem(weights.WEIGHTS, "tiny", entry)
        return entry

    module = types.ModuleType("fake_tiny_apps")
    module.TinyNet, module.preprocess_input = _tiny_net, lambda x: x
    monkeypatch.setitem(sys.modules, "fake_tiny_apps", module)
    monkeypatch.setitem(backbones.BACKBONES, "tiny", backbones.Backbone(
        "tiny", "TinyNet", "Tiny", 2024, "-", "-", 4, "tf", 0.1, "-", "fake_tiny_apps"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("COURSE_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(env, "has_internet", lambda: True)
    yield types.SimpleNamespace(root=root, requests=requests, register=register,
                                cache=tmp_path / "keras_home" / "models")
    server.shutdown()
    server.server_close()


def test_download_checked_then_cached(served):
    served.register()
    path = weights.resolve("tiny")
    assert path == served.cache / "tiny.weights.h5"
    assert path.read_bytes() == (served.root / "tiny.weights.h5").read_bytes()
    assert weights.resolve("tiny") == path and len(served.requests) == 1  # second time: cache


def test_hash_mismatch_fetched_once_more_then_error(served):
    served.register()
    (served.root / "tiny.weights.h5").write_bytes(b"not the published file")
    with pytest.raises(WeightsError, match="damaged"):
        weights.resolve("tiny")
    assert len(served.requests) == 2  # the first download and one retry, no more
    assert not (served.cache / "tiny.weights.h5").exists()


def test_truncated_cache_is_deleted_and_refetched(served):
    served.register()
    served.cache.mkdir(parents=True)
    good = (served.root / "tiny_notop.weights.h5").read_bytes()
    (served.cache / "tiny_notop.weights.h5").write_bytes(good[: len(good) // 2])
    path = weights.resolve("tiny", include_top=False)
    assert path.read_bytes() == good and len(served.requests) == 1


def test_file_without_published_hash_is_loaded_then_recorded(served):
    served.register(hashed=False)
    path = weights.resolve("tiny")
    recorded = json.loads((served.cache / weights.HASHES_FILE).read_text())
    assert recorded["tiny.weights.h5"] == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_bytes(path.read_bytes()[:-100])  # later damage is caught by the recorded hash
    assert weights.verify() == [(path, "hash differs from the one recorded")]
    assert weights.resolve("tiny").stat().st_size > path.stat().st_size - 1
    assert len(served.requests) == 2 and weights.verify() == []


def test_staged_folder_used_offline_and_cache_first(served, tmp_path, monkeypatch):
    served.register()
    staged = tmp_path / "staged"
    assert len(weights.fetch(["tiny"], dest=staged)) == 2
    monkeypatch.setenv("COURSE_WEIGHTS_DIR", str(staged))
    monkeypatch.setattr(env, "has_internet", lambda: False)
    assert weights.resolve("tiny") == staged / "tiny.weights.h5"
    served.cache.mkdir(parents=True)
    (served.cache / "tiny.weights.h5").write_bytes((staged / "tiny.weights.h5").read_bytes())
    assert weights.resolve("tiny") == served.cache / "tiny.weights.h5"
    listed = {(w.name, w.include_top): w for w in weights.available_offline()}
    assert listed[("tiny", False)].path == staged / "tiny_notop.weights.h5"
    assert ("efficientnet_lite0", True) in listed


def test_unreachable_server_is_an_offline_error(served, monkeypatch):
    entry = served.register()
    monkeypatch.setitem(weights.WEIGHTS, "tiny", weights.WeightsEntry(
        **{**entry.__dict__, "top_url": "http://127.0.0.1:9/tiny.weights.h5"}))
    with pytest.raises(OfflineError, match="tiny"):
        weights.resolve("tiny")


def test_offline_message_names_model_and_both_fixes(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("COURSE_WEIGHTS_DIR", raising=False)
    with pytest.raises(OfflineError) as info:
        weights.resolve("vgg16")
    message = str(info.value)
    assert "vgg16" in message and "offline" in message
    assert "course weights fetch vgg16" in message and "COURSE_WEIGHTS_DIR" in message
    assert "efficientnet_lite0" in message


def test_for_profile_falls_back_to_lite0(lite0_home, monkeypatch, capsys):
    monkeypatch.delenv("COURSE_WEIGHTS_DIR", raising=False)
    entry, base_model = backbones.for_profile(env.PROFILES["cpu"], input_shape=(64, 64, 3))
    assert entry.name == "efficientnet_lite0" and base_model.output_shape == (None, 1280)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "mobilenet_v2" in out and "efficientnet_lite0" in out


# ---------------------------------------------------------------- course weights ...
def test_cli_fetch_verify_list(served, tmp_path, capsys):
    served.register()
    staged = tmp_path / "staged"
    assert cli.main(["weights", "fetch", "tiny", "--dir", str(staged)]) == 0
    assert "tiny" in capsys.readouterr().out
    assert cli.main(["weights", "verify", "--dir", str(staged)]) == 0
    assert "2 weights files checked" in capsys.readouterr().out
    (staged / "tiny.weights.h5").write_bytes(b"garbage")
    assert cli.main(["weights", "verify", "--dir", str(staged)]) == 1
    assert "BAD" in capsys.readouterr().out
    assert cli.main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "efficientnet_lite0" in listing and "Apache-2.0" in listing


def test_cli_fetch_offline_and_usage_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert cli.main(["weights", "fetch", "vgg16"]) == 2
    err = capsys.readouterr().err
    assert "offline" in err and "Traceback" not in err
    assert cli.main(["weights", "fetch"]) == 2
    assert "--all" in capsys.readouterr().err
