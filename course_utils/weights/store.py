"""Every backbone's ImageNet weights: resolve, fetch, verify and list them, by registry name.

Each registry entry (:data:`course_utils.backbones.BACKBONES`) owns one weights source
(:mod:`course_utils.weights.sources`); :mod:`course_utils.weights.resolver` gets one source onto
this machine (see there for the cache, the pre-staged folder and the hash checks). This module
adds the registry: names, both variants, every file in a folder. :func:`verify` only reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

from .. import paths
from ..errors import WeightsError
from ..hashing import file_hash
from ..models import backbones, packaged
from .resolver import HASHES_FILE, Constructor, check, fetch_into, resolve_source
from .sources import Download, InstalledPackage, RemoteFile

__all__ = [
    "HASHES_FILE",
    "OfflineWeights",
    "resolve",
    "fetch",
    "verify",
    "available_offline",
    "known_files",
    "files_to_verify",
]

@dataclasses.dataclass(frozen=True)
class OfflineWeights:
    """A weights file usable without network (see :func:`available_offline`)."""

    name: str
    include_top: bool
    path: Path
    size: int
    licence: str


def _constructor(entry: backbones.Backbone) -> Constructor:
    """The entry's constructor, imported only when a check needs to build the model."""
    return lambda **kwargs: entry.constructor(**kwargs)


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
    return resolve_source(entry.name, _constructor(entry), entry.weights, include_top)


def _sizes(source: Download) -> list[int | None]:
    """The input sizes whose files :func:`fetch` stages: the default, and each profile's size
    that the source publishes a file for (MobileNetV2's 160 px for the ``cpu`` profile)."""
    if not source.sizes:
        return [None]
    from ..runtime.env import PROFILES

    wanted = {source.default_size} | {p.image_size for p in PROFILES.values()}
    return sorted(wanted & set(source.sizes))


def fetch(names: list[str], dest: str | Path | None = None) -> list[Path]:
    """Download both variants of each backbone's weights into ``dest`` (default: Keras cache).

    A source published per input size (MobileNet v1/v2) gets the files of the sizes the
    profiles use (:func:`_sizes`).

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
    found = []
    for name in names:
        entry = backbones.get(name)
        source = entry.weights
        for include_top in (True, False):
            if isinstance(source, InstalledPackage):
                if folder is None:
                    found.append(source.convert(include_top))
                continue
            for size in _sizes(source):
                file = source.file(include_top, size)
                target = (folder or paths.models_dir()) / file.name
                if target.is_file() and check(_constructor(entry), file, include_top, target,
                                              record=True) is None:
                    found.append(target)
                    continue
                target.unlink(missing_ok=True)
                found.append(fetch_into(entry.name, _constructor(entry), source, include_top,
                                        folder or paths.models_dir(), size))
    return found


def known_files(
    folder: str | Path,
) -> Iterator[tuple[backbones.Backbone, bool, RemoteFile, Path]]:
    """Yield ``(registry entry, include_top, file record, path)`` for each downloadable file in
    ``folder`` (every input size of a source published per size)."""
    folder = Path(folder).expanduser()
    for entry in backbones.BACKBONES.values():
        source = entry.weights
        if not isinstance(source, Download):
            continue
        for include_top in (True, False):
            for size in source.sizes or (None,):
                file = source.file(include_top, size)
                if (folder / file.name).is_file():
                    yield entry, include_top, file, folder / file.name


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


def _packaged_models() -> Iterator[tuple[packaged.PackagedFile, Path]]:
    """Yield ``(entry, file)`` for lesson 6's packaged model files that are installed here."""
    for entry in packaged.FILES:
        try:
            yield entry, paths.package_file(entry.package, entry.pip_name, entry.file, WeightsError)
        except WeightsError:
            continue


def files_to_verify(directory: str | Path | None = None) -> list[Path]:
    """Return the files :func:`verify` checks for ``directory`` (see there)."""
    folder = Path(directory).expanduser() if directory is not None else paths.models_dir()
    files = [path for *_, path in known_files(folder)]
    if directory is None:
        files += [path for _, path in _installed_files()]
        files += [path for _, path in _packaged_models()]
    return files


def verify(directory: str | Path | None = None) -> list[tuple[Path, str]]:
    """Check the weights files in ``directory`` (default: the Keras cache), reading only.

    Downloadable files are compared with their published hash, else with the SHA-256 recorded
    beside them, else loaded into their model. Without ``directory``, the files of installed
    packages (what :func:`resolve` converts on this machine, and lesson 6's packaged detectors)
    are hashed too. Nothing is written.

    Args:
        directory: the folder to check (a ``COURSE_WEIGHTS_DIR``, say).

    Returns:
        ``(path, problem)`` for each bad file; empty when all are good.
    """
    folder = Path(directory).expanduser() if directory is not None else paths.models_dir()
    problems = []
    for entry, include_top, file, path in known_files(folder):
        problem = check(_constructor(entry), file, include_top, path)
        if problem is not None:
            problems.append((path, problem))
    if directory is None:
        installed = [(path, entry.weights.sha256, entry.weights.pip_name)
                     for entry, path in _installed_files()]
        installed += [(path, entry.sha256, entry.pip_name) for entry, path in _packaged_models()]
        for path, sha256, pip_name in installed:
            if file_hash(path) != sha256:
                problems.append((path, "hash differs from the published one: reinstall "
                                       f"{pip_name}"))
    return problems


def available_offline() -> list[OfflineWeights]:
    """List the weights usable without network (Keras cache, ``$COURSE_WEIGHTS_DIR``, packages).

    Files are listed, not hashed (use :func:`verify` for that). An installed-package source is
    listed with its package file, for both variants.
    """
    found: dict[tuple[str, bool], OfflineWeights] = {}
    folders = [paths.models_dir()] + ([paths.staged_dir()] if paths.staged_dir() else [])
    for folder in folders:
        for entry, include_top, _, path in known_files(folder):
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
