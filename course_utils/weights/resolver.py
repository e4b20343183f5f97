"""Get one weights source onto this machine, checked: the resolver below the registry.

:func:`resolve_source` finds, downloads or converts the weights of one source
(:mod:`course_utils.weights.sources`) and knows nothing of the registry; the model it checks a
hash-less file against comes in as a constructor. :mod:`course_utils.weights.store` (the registry-
wide ``resolve``/``fetch``/``verify``) and :func:`course_utils.backbones.build` call it.

A download is looked up in the Keras cache (``$KERAS_HOME/models``), then in
``$COURSE_WEIGHTS_DIR``, then downloaded with ``keras.utils.get_file`` and its published hash
checked. A file published without a hash (MobileNet v1 and v2) is loaded into its model once and
its SHA-256 recorded in ``course_weights_hashes.json`` beside it, so later damage is caught. A
cached file is deleted (and fetched again) only when its hash differs or Keras cannot read it
(``OSError``, ``ValueError`` or ``KeyError`` from loading); any other error propagates and leaves
the file alone.
"""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import paths
from ..atomic import atomic_path
from ..errors import OfflineError, WeightsError
from ..hashing import file_hash, matches
from ..runtime import env
from .sources import Download, InstalledPackage, RemoteFile, WeightsSource

__all__ = ["HASHES_FILE", "resolve_source", "fetch_into", "check"]

Constructor = Callable[..., Any]
"""A ``keras.applications``-style constructor (``weights=``, ``include_top=``)."""

HASHES_FILE = "course_weights_hashes.json"
_LOAD_ERRORS = (OSError, ValueError, KeyError)  # what h5py/Keras raise for an unreadable file


def _recorded(folder: Path) -> dict[str, str]:
    try:
        return json.loads((folder / HASHES_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _record(path: Path) -> None:
    """Record ``path``'s SHA-256 in the hashes file beside it (atomically)."""
    hashes = _recorded(path.parent)
    hashes[path.name] = file_hash(path)
    with atomic_path(path.parent / HASHES_FILE) as tmp:
        tmp.write_text(json.dumps(hashes, indent=1, sort_keys=True))


def _loads(constructor: Constructor, include_top: bool, path: Path) -> bool:
    """True when Keras can load ``path`` into the model ``constructor`` builds without weights."""
    model = constructor(weights=None, include_top=include_top)
    try:
        model.load_weights(str(path))
    except _LOAD_ERRORS:
        return False
    return True


def check(constructor: Constructor, file: RemoteFile, include_top: bool, path: Path,
          record: bool = False) -> str | None:
    """Return None if ``path`` is good, else a short description of the problem.

    A hash-less file that loads is recorded beside itself only when ``record`` is True.
    """
    if file.hash is not None:
        return None if matches(path, file.hash) else "hash differs from the published one"
    recorded = _recorded(path.parent).get(path.name)
    if recorded is not None:
        return None if file_hash(path) == recorded else "hash differs from the one recorded"
    if not _loads(constructor, include_top, path):
        return "does not load into the model"
    if record:
        _record(path)
    return None


def _offline_message(name: str) -> str:
    return (f"The ImageNet weights of {name} are not on this machine and it is offline, so they "
            "cannot be downloaded. Either pre-stage them: run 'course weights fetch "
            f"{name} --dir DIR' on a machine with internet, copy DIR here and set "
            "COURSE_WEIGHTS_DIR=DIR; or use 'efficientnet_lite0', which works offline "
            "(its weights come from an installed package).")


def _download(name: str, file: RemoteFile, folder: Path, force: bool) -> Path:
    """``keras.utils.get_file`` into ``folder``; network problems become OfflineError."""
    import keras

    if not env.has_internet():
        raise OfflineError(_offline_message(name))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return Path(keras.utils.get_file(file.name, file.url, cache_dir=str(folder),
                                         cache_subdir="", file_hash=file.hash,
                                         force_download=force))
    except ValueError as exc:  # get_file's "Incomplete or corrupted file detected"
        (folder / file.name).unlink(missing_ok=True)  # get_file leaves the bad file behind
        raise WeightsError(f"downloaded {file.name} for {name} is damaged ({exc})") from exc
    except Exception as exc:  # get_file wraps URLError/HTTPError in a bare Exception
        if isinstance(exc, urllib.error.URLError) or "URL fetch failure" in str(exc):
            raise OfflineError(_offline_message(name)) from exc
        raise


def fetch_into(name: str, constructor: Constructor, source: Download, include_top: bool,
               folder: Path, size: int | None = None) -> Path:
    """Download one file (for input ``size``), check it, and once more if it is damaged."""
    file = source.file(include_top, size)
    for attempt in (0, 1):
        try:
            path = _download(name, file, folder, force=attempt > 0)
        except WeightsError:
            if attempt:
                raise
            continue
        problem = check(constructor, file, include_top, path, record=True)
        if problem is None:
            return path
        path.unlink(missing_ok=True)
        if attempt:
            raise WeightsError(f"{name}: the downloaded {path.name} {problem} twice; "
                               "the server may be serving a damaged file, try again later")
    raise AssertionError("unreachable")  # pragma: no cover


def _resolve_download(name: str, constructor: Constructor, source: Download,
                      include_top: bool, size: int | None) -> Path:
    file = source.file(include_top, size)
    cached = paths.models_dir() / file.name
    if cached.is_file():
        if check(constructor, file, include_top, cached, record=True) is None:
            return cached
        cached.unlink()  # damaged (hash, or unreadable by Keras): fetch again below
    staged = paths.staged_dir()
    if staged is not None and (staged / file.name).is_file():
        problem = check(constructor, file, include_top, staged / file.name)
        if problem is None:
            return staged / file.name
        if not env.has_internet():
            raise WeightsError(f"the pre-staged {staged / file.name} {problem}: stage it again "
                               f"with 'course weights fetch {name} --dir {staged}'")
    return fetch_into(name, constructor, source, include_top, paths.models_dir(), size)


def resolve_source(name: str, constructor: Constructor, source: WeightsSource,
                   include_top: bool = True, size: int | None = None) -> Path:
    """Return a checked local weights file of one source, dispatching on its type.

    Args:
        name: the backbone's registry key (for messages).
        constructor: builds the model a hash-less download is checked against.
        source: a :class:`~course_utils.weights.sources.Download` (cache, staged folder, then
            download) or an :class:`~course_utils.weights.sources.InstalledPackage` (checked and
            converted on this machine).
        include_top: the variant with the ImageNet classifier.
        size: the model's input size; picks the file of a source published per size
            (MobileNet v1/v2: the 160 px weights for a 160 px model, as keras.applications).

    Returns:
        Path of the weights file.

    Raises:
        TypeError: an unknown kind of source.
        course_utils.errors.OfflineError: not on this machine and no network.
        course_utils.errors.WeightsError: a file is damaged and no good copy can be had.
    """
    if isinstance(source, InstalledPackage):
        return source.convert(include_top)
    if isinstance(source, Download):
        return _resolve_download(name, constructor, source, include_top, size)
    raise TypeError(f"{name} has an unknown weights source {type(source).__name__}")
