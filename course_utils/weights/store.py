"""Find, fetch and check every backbone's ImageNet weights, dispatching on their source.

Each registry entry (:data:`course_utils.backbones.BACKBONES`) owns one weights source
(:mod:`course_utils.weight_files`):

* a :class:`~course_utils.weight_files.Download`: :func:`resolve` looks in the Keras cache
  (``$KERAS_HOME/models``, default ``~/.keras/models``), then in ``$COURSE_WEIGHTS_DIR`` (a folder
  an instructor pre-stages with ``course weights fetch --dir``), then downloads with
  ``keras.utils.get_file`` and checks the published hash. A file published without a hash
  (MobileNet v1 and v2) is loaded into its model once and its SHA-256 recorded in
  ``course_weights_hashes.json`` in the Keras cache, so later damage is caught. Offline, it raises
  :class:`~course_utils.errors.OfflineError` with the two fixes.
* an :class:`~course_utils.weight_files.InstalledPackage`: the package file is checked and
  converted on this machine; nothing is downloaded or staged.

:func:`verify` only reads. A cached file is deleted (and fetched again) only when its hash differs
or Keras cannot read it (``OSError``, ``ValueError`` or ``KeyError`` from loading); any other
error propagates and leaves the file alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import urllib.error
from collections.abc import Iterator
from pathlib import Path

from ..errors import OfflineError, WeightsError
from ..models import backbones
from ..runtime import env
from .sources import Download, InstalledPackage, RemoteFile, keras_cache_dir

__all__ = [
    "HASHES_FILE",
    "OfflineWeights",
    "keras_cache_dir",
    "staged_dir",
    "resolve",
    "fetch",
    "verify",
    "available_offline",
    "known_files",
    "files_to_verify",
    "file_hash",
]

HASHES_FILE = "course_weights_hashes.json"
_LOAD_ERRORS = (OSError, ValueError, KeyError)  # what h5py/Keras raise for an unreadable file


@dataclasses.dataclass(frozen=True)
class OfflineWeights:
    """A weights file usable without network (see :func:`available_offline`)."""

    name: str
    include_top: bool
    path: Path
    size: int
    licence: str


def staged_dir() -> Path | None:
    """Return ``$COURSE_WEIGHTS_DIR`` (pre-staged weights) or None when unset."""
    value = os.environ.get("COURSE_WEIGHTS_DIR", "").strip()
    return Path(value).expanduser() if value else None


def file_hash(path: Path, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file (``"md5"`` or ``"sha256"``).

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def _matches(path: Path, expected: str) -> bool:
    return file_hash(path, "md5" if len(expected) == 32 else "sha256") == expected


def _recorded(folder: Path) -> dict[str, str]:
    try:
        return json.loads((folder / HASHES_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _record(path: Path) -> None:
    """Record ``path``'s SHA-256 in the hashes file beside it (atomically)."""
    hashes = _recorded(path.parent)
    hashes[path.name] = file_hash(path)
    tmp = path.parent / f".{HASHES_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(hashes, indent=1, sort_keys=True))
    os.replace(tmp, path.parent / HASHES_FILE)


def _loads(name: str, include_top: bool, path: Path) -> bool:
    """True when Keras can load ``path`` into backbone ``name`` (built without weights first)."""
    model = backbones.get(name).constructor(weights=None, include_top=include_top)
    try:
        model.load_weights(str(path))
    except _LOAD_ERRORS:
        return False
    return True


def _check(name: str, file: RemoteFile, include_top: bool, path: Path,
           record: bool = False) -> str | None:
    """Return None if ``path`` is good, else a short description of the problem.

    A hash-less file that loads is recorded beside itself only when ``record`` is True.
    """
    if file.hash is not None:
        return None if _matches(path, file.hash) else "hash differs from the published one"
    recorded = _recorded(path.parent).get(path.name)
    if recorded is not None:
        return None if file_hash(path) == recorded else "hash differs from the one recorded"
    if not _loads(name, include_top, path):
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


def _fetch_into(name: str, source: Download, include_top: bool, folder: Path) -> Path:
    """Download one file, check it, and download once more if it is damaged."""
    file = source.file(include_top)
    for attempt in (0, 1):
        try:
            path = _download(name, file, folder, force=attempt > 0)
        except WeightsError:
            if attempt:
                raise
            continue
        problem = _check(name, file, include_top, path, record=True)
        if problem is None:
            return path
        path.unlink(missing_ok=True)
        if attempt:
            raise WeightsError(f"{name}: the downloaded {path.name} {problem} twice; "
                               "the server may be serving a damaged file, try again later")
    raise AssertionError("unreachable")  # pragma: no cover


def _resolve_download(name: str, source: Download, include_top: bool) -> Path:
    file = source.file(include_top)
    cached = keras_cache_dir() / file.name
    if cached.is_file():
        if _check(name, file, include_top, cached, record=True) is None:
            return cached
        cached.unlink()  # damaged (hash, or unreadable by Keras): fetch again below
    staged = staged_dir()
    if staged is not None and (staged / file.name).is_file():
        problem = _check(name, file, include_top, staged / file.name)
        if problem is None:
            return staged / file.name
        if not env.has_internet():
            raise WeightsError(f"the pre-staged {staged / file.name} {problem}: stage it again "
                               f"with 'course weights fetch {name} --dir {staged}'")
    return _fetch_into(name, source, include_top, keras_cache_dir())


def resolve(name: str, include_top: bool = True) -> Path:
    """Return a checked local file of ``name``'s ImageNet weights.

    A download source is looked up in the Keras cache, then ``$COURSE_WEIGHTS_DIR``, then
    downloaded (hash checked); a damaged cached file is deleted and fetched once more. An
    installed-package source is checked and converted on this machine.

    Args:
        name: registry key (``"mobilenet_v2"``).
        include_top: the variant with the ImageNet classifier.

    Returns:
        Path of the weights file, for ``model.load_weights`` or ``weights=``.

    Raises:
        ValueError: unknown name.
        course_utils.errors.OfflineError: not on this machine and no network.
        course_utils.errors.WeightsError: a file is damaged and no good copy can be had.
    """
    entry = backbones.get(name)
    source = entry.weights
    if isinstance(source, InstalledPackage):
        return source.convert(include_top)
    if isinstance(source, Download):
        return _resolve_download(entry.name, source, include_top)
    raise TypeError(f"{entry.name} has an unknown weights source {type(source).__name__}")


def fetch(names: list[str], dest: str | Path | None = None) -> list[Path]:
    """Download both variants of each backbone's weights into ``dest`` (default: Keras cache).

    A backbone whose weights come from an installed package has nothing to download: with the
    default ``dest`` its converted files are made (and returned); with a ``dest`` folder it is
    skipped, since another machine converts from its own installed package.

    Args:
        names: registry keys.
        dest: folder to fill (give it to another machine as ``COURSE_WEIGHTS_DIR``).

    Returns:
        The checked files.

    Raises:
        ValueError: an unknown name.
        course_utils.errors.OfflineError: a download is needed and there is no network.
        course_utils.errors.WeightsError: a file is damaged twice, or a package file is missing.
    """
    folder = Path(dest).expanduser() if dest is not None else None
    paths = []
    for name in names:
        entry = backbones.get(name)
        source = entry.weights
        for include_top in (True, False):
            if isinstance(source, InstalledPackage):
                if folder is None:
                    paths.append(source.convert(include_top))
                continue
            file = source.file(include_top)
            target = (folder or keras_cache_dir()) / file.name
            if target.is_file() and _check(entry.name, file, include_top, target,
                                           record=True) is None:
                paths.append(target)
                continue
            target.unlink(missing_ok=True)
            paths.append(_fetch_into(entry.name, source, include_top, folder or keras_cache_dir()))
    return paths


def known_files(folder: str | Path) -> Iterator[tuple[backbones.Backbone, bool, Path]]:
    """Yield ``(registry entry, include_top, path)`` for each downloadable file in ``folder``."""
    folder = Path(folder).expanduser()
    for entry in backbones.BACKBONES.values():
        if not isinstance(entry.weights, Download):
            continue
        for include_top in (True, False):
            path = folder / entry.weights.file(include_top).name
            if path.is_file():
                yield entry, include_top, path


def _installed_files() -> Iterator[tuple[backbones.Backbone, Path]]:
    """Yield ``(registry entry, package file)`` for the installed-package sources present here."""
    seen = set()
    for entry in backbones.BACKBONES.values():
        source = entry.weights
        if isinstance(source, InstalledPackage) and source not in seen:
            seen.add(source)
            try:
                yield entry, source.path()
            except WeightsError:
                continue


def files_to_verify(directory: str | Path | None = None) -> list[Path]:
    """Return the files :func:`verify` checks for ``directory`` (see there)."""
    folder = Path(directory).expanduser() if directory is not None else keras_cache_dir()
    paths = [path for _, _, path in known_files(folder)]
    if directory is None:
        paths += [path for _, path in _installed_files()]
    return paths


def verify(directory: str | Path | None = None) -> list[tuple[Path, str]]:
    """Check the weights files in ``directory`` (default: the Keras cache), reading only.

    Downloadable files are compared with their published hash, else with the SHA-256 recorded
    beside them, else loaded into their model. Without ``directory``, the files of installed
    packages (what :func:`resolve` converts on this machine) are hashed too. Nothing is written.

    Args:
        directory: the folder to check (a ``COURSE_WEIGHTS_DIR``, say).

    Returns:
        ``(path, problem)`` for each bad file; empty when all are good.
    """
    folder = Path(directory).expanduser() if directory is not None else keras_cache_dir()
    problems = []
    for entry, include_top, path in known_files(folder):
        problem = _check(entry.name, entry.weights.file(include_top), include_top, path)
        if problem is not None:
            problems.append((path, problem))
    if directory is None:
        for entry, path in _installed_files():
            if file_hash(path) != entry.weights.sha256:
                problems.append((path, "hash differs from the published one: reinstall "
                                       f"{entry.weights.pip_name}"))
    return problems


def available_offline() -> list[OfflineWeights]:
    """List the weights usable without network (Keras cache, ``$COURSE_WEIGHTS_DIR``, packages).

    Files are listed, not hashed (use :func:`verify` for that). An installed-package source is
    listed with its package file, for both variants.
    """
    found: dict[tuple[str, bool], OfflineWeights] = {}
    folders = [keras_cache_dir()] + ([staged_dir()] if staged_dir() else [])
    for folder in folders:
        for entry, include_top, path in known_files(folder):
            found.setdefault((entry.name, include_top), OfflineWeights(
                entry.name, include_top, path, path.stat().st_size, entry.weights.licence))
    for entry in backbones.BACKBONES.values():
        if not isinstance(entry.weights, InstalledPackage):
            continue
        try:
            package = entry.weights.path()
        except WeightsError:
            continue
        for include_top in (True, False):
            found.setdefault((entry.name, include_top), OfflineWeights(
                entry.name, include_top, package, package.stat().st_size, entry.weights.licence))
    order = list(backbones.BACKBONES)
    return sorted(found.values(), key=lambda w: (order.index(w.name), not w.include_top))
