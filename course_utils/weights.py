"""Where every backbone's ImageNet weights come from, and how they are found offline.

:data:`WEIGHTS` (the one table, in :mod:`course_utils.weight_files`) gives each file's name,
address, published hash and licence.
:func:`resolve` looks, in order, in the Keras cache (``$KERAS_HOME/models``, default
``~/.keras/models``), in ``$COURSE_WEIGHTS_DIR`` (a folder an instructor pre-stages with
``course weights fetch``), then downloads with ``keras.utils.get_file`` and checks the hash. A
file without a published hash is loaded into its model once and its SHA-256 recorded in
``course_weights_hashes.json`` beside it, so later damage is caught. Offline, it raises
:class:`~course_utils.errors.OfflineError` with the two fixes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import urllib.error
from pathlib import Path

from . import env
from .errors import OfflineError, WeightsError
from .weight_files import WEIGHTS, WeightsEntry

__all__ = [
    "WeightsEntry",
    "WEIGHTS",
    "HASHES_FILE",
    "OfflineWeights",
    "keras_cache_dir",
    "staged_dir",
    "resolve",
    "fetch",
    "verify",
    "available_offline",
    "known_files",
    "file_hash",
]

HASHES_FILE = "course_weights_hashes.json"
LITE0 = "efficientnet_lite0"


@dataclasses.dataclass(frozen=True)
class OfflineWeights:
    """A weights file usable without network (see :func:`available_offline`)."""

    name: str
    include_top: bool
    path: Path
    size: int
    licence: str


def keras_cache_dir() -> Path:
    """Return Keras's model cache: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    return env.keras_home() / "models"


def staged_dir() -> Path | None:
    """Return ``$COURSE_WEIGHTS_DIR`` (pre-staged weights) or None when unset."""
    value = os.environ.get("COURSE_WEIGHTS_DIR", "").strip()
    return Path(value).expanduser() if value else None


def _entry(name: str) -> WeightsEntry:
    key = name.strip().lower().replace("-", "_")
    if key not in WEIGHTS:
        raise ValueError(f"no weights known for {name!r}: choose one of {', '.join(WEIGHTS)}")
    return WEIGHTS[key]


def file_hash(path: Path, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file (``"md5"`` or ``"sha256"``)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _matches(path: Path, expected: str) -> bool:
    return file_hash(path, "md5" if len(expected) == 32 else "sha256") == expected


def _recorded(folder: Path) -> dict[str, str]:
    try:
        return json.loads((folder / HASHES_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _record(path: Path) -> None:
    hashes = _recorded(path.parent)
    hashes[path.name] = file_hash(path)
    tmp = path.parent / f".{HASHES_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(hashes, indent=1, sort_keys=True))
    os.replace(tmp, path.parent / HASHES_FILE)


def _loads(entry: WeightsEntry, include_top: bool, path: Path) -> bool:
    """Load a hash-less file into its model: True when it fits (then its SHA-256 is recorded)."""
    from . import backbones

    try:
        model = backbones.get(entry.name).constructor(weights=None, include_top=include_top)
        model.load_weights(str(path))
    except Exception:  # noqa: BLE001 - h5py/keras raise many types for a damaged file
        return False
    _record(path)
    return True


def _check(entry: WeightsEntry, include_top: bool, path: Path) -> str | None:
    """Return None if ``path`` is good, else a short description of the problem."""
    _, _, expected = entry.file(include_top)
    if expected is not None:
        return None if _matches(path, expected) else "hash differs from the published one"
    recorded = _recorded(path.parent).get(path.name)
    if recorded is not None:
        return None if file_hash(path) == recorded else "hash differs from the one recorded"
    return None if _loads(entry, include_top, path) else "does not load into the model"


def _offline_message(name: str) -> str:
    return (f"The ImageNet weights of {name} are not on this machine and it is offline, so they "
            "cannot be downloaded. Either pre-stage them: run 'course weights fetch "
            f"{name} --dir DIR' on a machine with internet, copy DIR here and set "
            "COURSE_WEIGHTS_DIR=DIR; or use 'efficientnet_lite0', which works offline "
            "(its weights come from an installed package).")


def _download(entry: WeightsEntry, include_top: bool, folder: Path, force: bool) -> Path:
    """``keras.utils.get_file`` into ``folder``; network problems become OfflineError."""
    import keras

    fname, url, expected = entry.file(include_top)
    if not env.has_internet():
        raise OfflineError(_offline_message(entry.name))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return Path(keras.utils.get_file(fname, url, cache_dir=str(folder), cache_subdir="",
                                         file_hash=expected, force_download=force))
    except ValueError as exc:  # get_file's "Incomplete or corrupted file detected"
        (folder / fname).unlink(missing_ok=True)  # get_file leaves the bad file behind
        raise WeightsError(f"downloaded {fname} for {entry.name} is damaged ({exc})") from exc
    except Exception as exc:  # get_file wraps URLError/HTTPError in a bare Exception
        if isinstance(exc, urllib.error.URLError) or "URL fetch failure" in str(exc):
            raise OfflineError(_offline_message(entry.name)) from exc
        raise


def _fetch_into(entry: WeightsEntry, include_top: bool, folder: Path) -> Path:
    """Download one file, check it, and download once more if it is damaged."""
    for attempt in (0, 1):
        try:
            path = _download(entry, include_top, folder, force=attempt > 0)
        except WeightsError:
            if attempt:
                raise
            continue
        problem = _check(entry, include_top, path)
        if problem is None:
            return path
        path.unlink(missing_ok=True)
        if attempt:
            raise WeightsError(f"{entry.name}: the downloaded {path.name} {problem} twice; "
                               "the server may be serving a damaged file, try again later")
    raise AssertionError("unreachable")  # pragma: no cover


def resolve(name: str, include_top: bool = True) -> Path:
    """Return a checked local file of ``name``'s ImageNet weights.

    Looks in the Keras cache, then ``$COURSE_WEIGHTS_DIR``, then downloads (hash checked after
    download). A damaged cached file is deleted and fetched once more.

    Args:
        name: registry key (``"mobilenet_v2"``); ``"efficientnet_lite0"`` is converted offline.
        include_top: the variant with the ImageNet classifier.

    Returns:
        Path of the weights file, for ``model.load_weights`` or ``weights=``.

    Raises:
        ValueError: unknown name.
        course_utils.errors.OfflineError: not on this machine and no network.
        course_utils.errors.WeightsError: a file is damaged and no good copy can be had.
    """
    entry = _entry(name)
    if entry.name == LITE0:
        from . import lite0

        return lite0.converted_weights(include_top)
    fname = entry.file(include_top)[0]
    cached = keras_cache_dir() / fname
    if cached.is_file():
        if _check(entry, include_top, cached) is None:
            return cached
        cached.unlink()  # damaged: fetch again below
    staged = staged_dir()
    if staged is not None and (staged / fname).is_file():
        problem = _check(entry, include_top, staged / fname)
        if problem is None:
            return staged / fname
        if not env.has_internet():
            raise WeightsError(f"the pre-staged {staged / fname} {problem}: stage it again with "
                               f"'course weights fetch {entry.name} --dir {staged}'")
    return _fetch_into(entry, include_top, keras_cache_dir())


def fetch(names: list[str], dest: str | Path | None = None) -> list[Path]:
    """Download both variants of each backbone's weights into ``dest`` (default: Keras cache).

    Args:
        names: registry keys.
        dest: folder to fill (give it to another machine as ``COURSE_WEIGHTS_DIR``).

    Returns:
        The checked files.

    Raises:
        ValueError, course_utils.errors.OfflineError, course_utils.errors.WeightsError.
    """
    folder = Path(dest).expanduser() if dest is not None else keras_cache_dir()
    paths = []
    for name in names:
        entry = _entry(name)
        for include_top in (True, False):
            if entry.name == LITE0:
                import shutil

                from . import lite0

                source = lite0.converted_weights(include_top)
                target = folder / source.name
                if target != source:
                    folder.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)
                paths.append(target)
                continue
            target = folder / entry.file(include_top)[0]
            if target.is_file() and _check(entry, include_top, target) is None:
                paths.append(target)
                continue
            target.unlink(missing_ok=True)
            paths.append(_fetch_into(entry, include_top, folder))
    return paths


def known_files(folder: str | Path):
    """Yield ``(entry, include_top, path)`` for each table file present in ``folder``."""
    folder = Path(folder).expanduser()
    for entry in WEIGHTS.values():
        for include_top in (True, False):
            path = folder / entry.file(include_top)[0]
            if path.is_file():
                yield entry, include_top, path


def verify(directory: str | Path | None = None) -> list[tuple[Path, str]]:
    """Check every known weights file in ``directory`` (default: the Keras cache).

    Files with a published hash are hashed; others are compared with the recorded SHA-256 (or
    loaded into their model once, then recorded). Converted EfficientNet-Lite0 files are checked
    through the installed package file's SHA-256.

    Returns:
        ``(path, problem)`` for each bad file; empty when all are good.
    """
    from . import lite0

    folder = Path(directory).expanduser() if directory is not None else keras_cache_dir()
    problems = []
    lite0_checked = False
    for entry, include_top, path in known_files(folder):
        if entry.name == LITE0:
            if lite0_checked:  # both variants come from the one package file: check it once
                continue
            lite0_checked = True
            try:
                package = lite0.package_weights_file()
            except WeightsError as exc:
                problems.append((path, str(exc)))
                continue
            if file_hash(package) != entry.top_hash:
                problems.append((package, "hash differs from the published one: reinstall "
                                          f"{lite0.PACKAGE}"))
            continue
        problem = _check(entry, include_top, path)
        if problem is not None:
            problems.append((path, problem))
    return problems


def available_offline() -> list[OfflineWeights]:
    """List the weights usable without network (Keras cache, ``$COURSE_WEIGHTS_DIR``, Lite0).

    Files are listed, not hashed (use :func:`verify` for that).
    """
    from . import lite0

    found: dict[tuple[str, bool], OfflineWeights] = {}
    folders = [keras_cache_dir()] + ([staged_dir()] if staged_dir() else [])
    for folder in folders:
        for entry, include_top, path in known_files(folder):
            found.setdefault((entry.name, include_top),
                             OfflineWeights(entry.name, include_top, path, path.stat().st_size,
                                            entry.licence))
    try:
        package = lite0.package_weights_file()
    except WeightsError:
        package = None
    for include_top in (True, False):
        if package is not None and (LITE0, include_top) not in found:
            found[(LITE0, include_top)] = OfflineWeights(
                LITE0, include_top, package, package.stat().st_size, WEIGHTS[LITE0].licence)
    order = list(WEIGHTS)
    return sorted(found.values(), key=lambda w: (order.index(w.name), not w.include_top))
