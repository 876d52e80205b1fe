"""Download and unpack dataset files safely (torchvision.datasets.utils' functions, stdlib only).

``download_url`` tries each mirror in order, streams into ``<file>.part`` next to the target
with a tqdm bar, resumes a ``.part`` left by an interrupted run with an HTTP ``Range`` request
(a server that answers 200 instead of 206 is simply read again from byte 0), verifies the
MD5/SHA-256 and only then renames the file into place (``os.replace``: atomic on one
filesystem). A checksum mismatch deletes the ``.part``: nothing half-downloaded stays in root.

``extract_archive`` unpacks tar/tar.gz/tar.bz2/tar.xz/zip/gz into a temporary directory beside
the destination and renames the result in. Every member is checked BEFORE anything is written:
absolute names, ``..`` components, links pointing outside, devices and fifos are refused with
:class:`UnsafeArchiveError` (tarfile's ``data`` filter is applied as well, where Python has it).
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import Sequence

_CHUNK = 1 << 16  # 64 KiB reads: ~2,600 bar updates for CIFAR-10's 163 MiB, each a few microseconds
_TIMEOUT_S = 30.0  # per socket operation, not the whole transfer
_RESUME_TRIES = 3  # a dropped connection is resumed this many times per mirror before moving on


class DownloadError(OSError):
    """No mirror delivered the file; the message lists every URL tried and why it failed."""


class ChecksumError(DownloadError):
    """Every mirror that answered delivered a file that does not match its published checksum."""


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the destination (absolute path, ``..``, outside link, device)."""


# ---- checksums --------------------------------------------------------------------------

def _hash_file(path, algorithm: str, chunk_size: int = 1 << 20) -> str:
    h = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()


def calculate_md5(fpath, chunk_size: int = 1024 * 1024) -> str:
    """The hex MD5 of a file (torchvision's name)."""
    return _hash_file(fpath, "md5", chunk_size)


def _expected(md5: str | None, sha256: str | None) -> tuple[str, str] | None:
    if md5 and sha256:
        raise ValueError("give md5 or sha256, not both")
    return ("md5", md5.lower()) if md5 else ("sha256", sha256.lower()) if sha256 else None


def check_integrity(fpath, md5: str | None = None, sha256: str | None = None) -> bool:
    """True when ``fpath`` is a file and (if a checksum is given) matches it (torchvision's name)."""
    if not os.path.isfile(fpath):
        return False
    want = _expected(md5, sha256)
    return want is None or _hash_file(fpath, want[0]) == want[1]


# ---- download ---------------------------------------------------------------------------

def _check_url(url: str) -> None:
    scheme = url.split(":", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"only http and https URLs are downloaded, got {url!r}")


class _HTTPOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """urllib follows redirects to ftp:// too; a dataset mirror has no reason to leave http(s)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        _check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(url: str, part: Path, desc: str, timeout: float) -> None:
    """Stream ``url`` into ``part``, continuing from its current size when the server honours Range."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "blaze-dataset-downloader"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.build_opener(_HTTPOnlyRedirects).open(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # Range past the end: the .part is stale or complete; start over
            part.unlink()
            return _fetch(url, part, desc, timeout)
        raise
    from tqdm import tqdm  # loaded here: tqdm costs ~30 ms at import, paid only when downloading

    with resp:
        resumed = bool(have) and resp.status == 206
        if resumed and not resp.headers.get("Content-Range", "").replace(" ", "").startswith(f"bytes{have}-"):
            part.unlink()
            raise ValueError(f"asked for bytes {have}- and got {resp.headers.get('Content-Range')!r}")
        start = have if resumed else 0  # a 200 (Range ignored) is the whole file: rewrite from byte 0
        length = resp.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        with open(part, "ab" if resumed else "wb") as f, \
                tqdm(total=total, initial=start, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                     disable=None, leave=False) as bar:
            while chunk := resp.read(_CHUNK):
                f.write(chunk)
                bar.update(len(chunk))
        if total is not None and part.stat().st_size != total:
            raise urllib.error.ContentTooShortError(
                f"got {part.stat().st_size} of {total} bytes", None)


def _fetch_resuming(url: str, part: Path, desc: str, timeout: float) -> Exception | None:
    """``_fetch``, resumed after a dropped connection up to _RESUME_TRIES times; the last error or None."""
    error = None
    for _ in range(_RESUME_TRIES):
        try:
            _fetch(url, part, desc, timeout)
            return None
        except (OSError, http.client.HTTPException, ValueError) as e:  # URLError is an OSError
            error = e
            if isinstance(e, urllib.error.HTTPError) or not part.exists():
                break  # a 404 (or nothing received) will not get better by asking again
    return error


def download_url(url: str | Sequence[str], root, filename: str | None = None, md5: str | None = None,
                 sha256: str | None = None, *, timeout: float = _TIMEOUT_S) -> Path:
    """Download a file into ``root`` (torchvision's ``download_url``, plus mirrors and resume).

    Args:
        url: one URL, or a list of mirrors tried in order.
        root: the directory to put the file in (created if missing).
        filename: the name to save under; default the last part of the first URL.
        md5 / sha256: the published checksum; the file is verified before it appears in root.

    Returns the path of the verified file. A file already present and valid is not downloaded.
    Raises :class:`ChecksumError` when a mirror delivered a file with the wrong checksum (the
    message names the file and URL) and :class:`DownloadError` when no mirror could be reached.
    """
    urls = [url] if isinstance(url, str) else list(url)
    if not urls:
        raise ValueError("download_url needs at least one URL")
    for u in urls:
        _check_url(u)
    want = _expected(md5, sha256)
    root = Path(root).expanduser()
    filename = filename or os.path.basename(urls[0].split("?", 1)[0])
    if not filename or os.path.basename(filename) != filename or filename in (".", ".."):
        raise ValueError(f"filename must be a plain file name, got {filename!r}")
    dest = root / filename
    if check_integrity(dest, md5, sha256):
        return dest
    root.mkdir(parents=True, exist_ok=True)
    part = root / (filename + ".part")
    if want is None:
        part.unlink(missing_ok=True)  # without a checksum, bytes left by an earlier run cannot be trusted
    failures, bad = [], []
    for u in urls:
        while True:
            resumed = part.exists()
            error = _fetch_resuming(u, part, filename, timeout)
            if error is not None:
                failures.append(f"{u}: {type(error).__name__}: {error}")
                break
            if want is None or (got := _hash_file(part, want[0])) == want[1]:
                os.replace(part, dest)
                return dest
            part.unlink()
            if not resumed:
                bad.append(f"{u}: {want[0]} {got}, expected {want[1]}")
                break
            # the bytes kept from an earlier run may be another file's: once more from byte 0
    if bad:
        raise ChecksumError(f"{filename}: the download does not match its checksum (nothing was kept in "
                            f"{root}):\n  " + "\n  ".join(bad + failures))
    kept = f"\nThe {part.stat().st_size} bytes received are kept in {part} and resumed next time." \
        if part.exists() else ""
    raise DownloadError(f"could not download {filename} into {root}; tried:\n  " + "\n  ".join(failures) + kept
                        + "\nCheck the network (or a proxy), or put the file in that directory yourself.")


# ---- extraction -------------------------------------------------------------------------

def _safe_name(name: str, archive) -> PurePosixPath:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or (p.parts and ":" in p.parts[0]):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    if ".." in p.parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} climbs out of the destination with '..'; "
                                 "refusing to extract")
    return p


def _link_escapes(member_path: PurePosixPath, m: tarfile.TarInfo) -> bool:
    """Whether a link's target, resolved lexically, leaves the destination."""
    target = PurePosixPath(m.linkname.replace("\\", "/"))
    if target.is_absolute():
        return True
    # a symlink's target is relative to its own folder; a hardlink's to the archive root
    parts = list(member_path.parent.parts) if m.issym() else []
    for part in target.parts:
        if part == "..":
            if not parts:
                return True
            parts.pop()
        elif part != ".":
            parts.append(part)
    return False


def _check_tar(tf: tarfile.TarFile, archive) -> None:
    members = [(m, _safe_name(m.name, archive)) for m in tf.getmembers()]
    links = set()
    for m, p in members:
        if m.issym() or m.islnk():
            if _link_escapes(p, m):
                raise UnsafeArchiveError(f"{archive}: link {m.name!r} -> {m.linkname!r} points outside the "
                                         "destination; refusing to extract")
            links.add(p)
        elif not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a device or fifo; refusing to extract")
    # lexical checks cannot follow a symlinked folder ("d" -> "." makes "d/../x" escape), and a
    # file written over a symlink follows it: refuse any member at or below a link
    for m, p in members:
        hit = next((q for q in (p, *p.parents) if q in links and not (q == p and (m.issym() or m.islnk()))), None)
        if hit is not None:
            raise UnsafeArchiveError(f"{archive}: member {m.name!r} goes through the link {str(hit)!r}; "
                                     "refusing to extract")


def _check_zip(zf: zipfile.ZipFile, archive) -> None:
    for info in zf.infolist():
        _safe_name(info.filename, archive)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symlink; refusing to extract")


def _unpack(src: Path, tmp: Path) -> None:
    name = src.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(src) as zf:
            _check_zip(zf, src)
            zf.extractall(tmp)
    elif name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz")):
        with tarfile.open(src) as tf:
            _check_tar(tf, src)
            if hasattr(tarfile, "data_filter"):  # 3.12, and 3.8.17+/3.11.4+ backports: a second guard
                tf.extractall(tmp, filter="data")
            else:
                tf.extractall(tmp)
    elif name.endswith(".gz"):
        with gzip.open(src, "rb") as fin, open(tmp / src.name[:-3], "wb") as fout:
            shutil.copyfileobj(fin, fout, _CHUNK)
    else:
        raise ValueError(f"{src}: unknown archive type; expected .zip, .tar[.gz|.bz2|.xz], .tgz or .gz")


def extract_archive(from_path, to_path=None, remove_finished: bool = False) -> Path:
    """Unpack an archive into ``to_path`` (default: its folder) and return ``to_path``.

    The archive is checked whole before anything is written and unpacked into a temporary
    folder beside ``to_path``; each top-level entry is then renamed into place, replacing an
    entry of the same name. Raises :class:`UnsafeArchiveError` for a member that would escape.
    """
    src = Path(from_path)
    dest = Path(to_path) if to_path is not None else src.parent
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
    try:
        try:
            _unpack(src, tmp)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, gzip.BadGzipFile) as e:
            raise ValueError(f"{src}: cannot unpack the archive ({type(e).__name__}: {e})") from e
        for entry in sorted(tmp.iterdir()):
            target = dest / entry.name
            if target.is_dir() and not target.is_symlink():
                old = Path(tempfile.mkdtemp(prefix=".replaced-", dir=dest))
                os.replace(target, old / entry.name)
                shutil.rmtree(old)
            os.replace(entry, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if remove_finished:
        src.unlink()
    return dest


def download_and_extract_archive(url: str | Sequence[str], download_root, extract_root=None,
                                 filename: str | None = None, md5: str | None = None,
                                 sha256: str | None = None, remove_finished: bool = False) -> Path:
    """``download_url`` then ``extract_archive`` (torchvision's name); returns the extract folder."""
    archive = download_url(url, download_root, filename, md5, sha256)
    return extract_archive(archive, extract_root if extract_root is not None else download_root, remove_finished)
