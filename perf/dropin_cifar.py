"""Run a PyTorch program that calls ``CIFAR10(root, download=True)`` unchanged on blaze, with the
dataset's mirror pointed at a CIFAR-10-format archive generated here and served from 127.0.0.1
(the real archive cannot be fetched on a machine without internet access).

    python perf/dropin_cifar.py [--per-batch N] [--test N] script.py [args ...]

The archive holds random images in the "python version" layout (five data batches, a test batch,
batches.meta); the class attributes torchvision uses (mirrors, tgz_md5, train_list, test_list,
meta) are repointed to it, so the program runs the real download, checksum and extraction path.
"""
from __future__ import annotations

import argparse
import hashlib
import http.server
import io
import pickle
import tarfile
import threading

import numpy as np

from blaze import compat
from blaze.vision.datasets import CIFAR10


def _md5(blob: bytes) -> str:
    return hashlib.md5(blob).hexdigest()


def cifar_archive(per_batch: int, n_test: int, seed: int = 0) -> tuple[bytes, dict[str, bytes]]:
    """A cifar-10-python.tar.gz-shaped archive of random images; returns (archive, member files)."""
    rng = np.random.default_rng(seed)
    files = {}
    for name, n in [*((b, per_batch) for b, _ in CIFAR10.train_list), *((b, n_test) for b, _ in CIFAR10.test_list)]:
        files[name] = pickle.dumps({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                                    b"labels": rng.integers(0, 10, n).tolist()}, protocol=2)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    files[CIFAR10.meta["filename"]] = pickle.dumps({b"label_names": names}, protocol=2)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tf:
        for name, blob in files.items():
            info = tarfile.TarInfo(f"{CIFAR10.base_folder}/{name}")
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    return out.getvalue(), files


def serve(blob: bytes) -> str:
    """Serve ``blob`` as /cifar-10-python.tar.gz on 127.0.0.1 from a daemon thread; returns the base URL."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path != "/" + CIFAR10.filename:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            self.wfile.write(blob)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-batch", type=int, default=200, help="images in each of the 5 train batches")
    parser.add_argument("--test", type=int, default=200, help="images in the test batch")
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opt = parser.parse_args()
    blob, files = cifar_archive(opt.per_batch, opt.test)
    CIFAR10.mirrors = [serve(blob)]
    CIFAR10.tgz_md5 = _md5(blob)
    CIFAR10.train_list = [[n, _md5(files[n])] for n, _ in CIFAR10.train_list]
    CIFAR10.test_list = [[n, _md5(files[n])] for n, _ in CIFAR10.test_list]
    CIFAR10.meta = {**CIFAR10.meta, "md5": _md5(files[CIFAR10.meta["filename"]])}
    return compat.main([opt.script, *opt.args])


if __name__ == "__main__":
    raise SystemExit(main())
