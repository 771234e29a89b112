"""Network pickles given as URLs, as NVIDIA's tools take them: downloaded once into a cache folder.

:func:`fetch` keeps each URL's file in ``$GRADCTRL_CACHE`` (default: ``$XDG_CACHE_HOME/gradctrl``, else
``~/.cache/gradctrl``) under ``<16 hex of the URL's sha256>-<file name>``. A download is written under a
temporary name and renamed into place when whole (:func:`stylegan2.atomic.atomic_path`), so a cut-off one
leaves nothing; a progress bar shows it on stderr. An optional sha256 pin is checked on the download and on
the cached file. Every failure (offline, an HTTP error, a short read, a wrong pin) is one-line
:class:`~stylegan2.errors.InputError` naming the URL and what to do.
"""
import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .atomic import atomic_path
from .errors import InputError

CACHE_ENV = "GRADCTRL_CACHE"
URL_SCHEMES = ("http://", "https://")
TIMEOUT_S = 30  # seconds without a byte before a download is given up


def is_url(text):
    """True when ``text`` (a str or path) is an http(s) URL rather than a path."""
    return isinstance(text, str) and text.startswith(URL_SCHEMES)


def cache_dir():
    """The folder downloads are kept in: ``$GRADCTRL_CACHE``, else the user's cache folder / gradctrl."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gradctrl"


def cached_path(url):
    """Where :func:`fetch` keeps ``url``'s file: ``<cache>/<16 hex of sha256(url)>-<the URL's file name>``."""
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "download"
    return cache_dir() / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{name}"


def fetch(url, sha256=None, progress=True):
    """The local path of ``url``'s file, downloaded into the cache first unless it is there -> Path.

    sha256: optional hex pin; a download or cached file with other bytes is refused (InputError).
    progress: a bar on stderr while downloading.
    """
    path = cached_path(url)
    if path.is_file():
        _check_pin(url, path, file_sha256(path), sha256, f"the cached file '{path}' (remove it to download again)")
        return path
    with atomic_path(path) as temporary:
        digest = _download(url, temporary, progress)
        _check_pin(url, path, digest, sha256, "the download")
    return path


def _download(url, target, progress):
    """Stream ``url`` into the file ``target`` -> hex sha256 of its bytes; InputError on any failure."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(target, "wb") as file, \
                tqdm(total=int(response.headers.get("Content-Length") or 0) or None, unit="B", unit_scale=True,
                     desc=f"download {url.rsplit('/', 1)[-1]}", disable=not progress, file=sys.stderr) as bar:
            expected = response.headers.get("Content-Length")
            received = 0
            while block := response.read(1 << 20):
                file.write(block)
                digest.update(block)
                received += len(block)
                bar.update(len(block))
    except urllib.error.HTTPError as e:
        raise InputError(f"cannot download {url}: HTTP {e.code} {e.reason}: check the address") from None
    except (http.client.HTTPException, ConnectionError) as e:  # the server closed the connection early
        raise InputError(f"download of {url} broke off ({type(e).__name__}): run again") from None
    except (urllib.error.URLError, TimeoutError) as e:
        raise InputError(f"cannot download {url} ({getattr(e, 'reason', e)}): offline? download it where there is "
                         f"a network and pass its path, or copy it to {cached_path(url)}") from None
    if expected is not None and received != int(expected):
        raise InputError(f"download of {url} stopped after {received} of {expected} bytes: run again")
    return digest.hexdigest()


def _check_pin(url, path, digest, sha256, what):
    if sha256 is not None and digest != sha256.lower():
        raise InputError(f"{url}: {what} has sha256 {digest[:16]}..., not the pinned {sha256[:16]}...: the file "
                         "changed or the pin is wrong")


def file_sha256(path):
    """Hex SHA-256 of a file's bytes (a download's pin; the generator's identity in gradctrl's manifests)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
