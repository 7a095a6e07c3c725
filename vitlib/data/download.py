"""Downloading a file once, with a progress bar, checked against its published MD5."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["md5sum", "download"]


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, path: Path, md5: str, timeout: float = 20.0) -> Path:
    """Download ``url`` to ``path`` with a progress bar and check its MD5; the file appears only when
    complete and correct. Without a network it fails at once, saying where to put the file by hand."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError) as error:
        raise RuntimeError(
            f"could not download {url} ({error}). Without a network, download the file elsewhere and "
            f"put it at {path}; it is checked against its published MD5 {md5}."
        ) from None
    total = int(response.headers.get("Content-Length", 0)) or None
    with response, open(partial, "wb") as f, tqdm(total=total, unit="B", unit_scale=True, desc=path.name) as bar:
        for block in iter(lambda: response.read(1 << 20), b""):
            f.write(block)
            bar.update(len(block))
    if md5sum(partial) != md5:
        partial.unlink()
        raise RuntimeError(f"{url} downloaded, but its MD5 is not the published {md5}; try again")
    os.replace(partial, path)
    return path
