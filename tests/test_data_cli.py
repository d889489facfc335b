"""`classicnets data info | import | download` on small fixtures (the real datasets: test_data_real.py)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import struct
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from classicnets.cli import main
from classicnets.data.download import REMOTE, RemoteFile


def _write_mnist(folder: Path, n: int = 20) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        x = np.full((n, 28, 28), 3, np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">IIII", 0x803, n, 28, 28) + x.tobytes()))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">II", 0x801, n) + y.tobytes()))


def test_info_digits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "info", "digits"]) == 0
    out = capsys.readouterr().out
    assert "1,438" in out and "359" in out and "mean (train, per channel): 0.3055" in out


def test_import_then_info_reuses_the_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_mnist(tmp_path / "m")
    args = ["--root", str(tmp_path / "m"), "--cache-dir", str(tmp_path / "c")]
    assert main(["data", "import", "mnist", *args]) == 0
    assert "mnist: 40 images decoded in" in capsys.readouterr().out
    assert main(["data", "import", "mnist", *args]) == 0
    assert "40 images already cached" in capsys.readouterr().out
    assert main(["data", "info", "mnist", *args]) == 0
    out = capsys.readouterr().out
    assert "28 x 28 x 1" in out and "(reused)" in out and "mean (train, per channel): 0.0118" in out


@pytest.mark.parametrize("argv, message", [
    (["data", "info", "mnits", "--root", "."], "unknown dataset 'mnits'. Did you mean 'mnist'"),
    (["data", "info", "mnist", "--root", "/no/such/folder"], "/no/such/folder does not exist"),
    (["data", "info", "mnist", "--root", ".", "--size", "8"], "fixed image size"),
    (["data", "download", "digits"], "digits has no official download"),
])
def test_user_errors_are_one_line_and_exit_2(argv, message, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("classicnets data: error: ") and message in err and err.count("\n") == 1, err


def test_download_from_a_local_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    served = tmp_path / "served"
    _write_mnist(served)
    files = tuple(RemoteFile(p.name, (f"https://invalid.example/{p.name}",), hashlib.md5(p.read_bytes()).hexdigest())
                  for p in sorted(served.iterdir()))
    monkeypatch.setitem(REMOTE, "mnist", files)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        dest = tmp_path / "dl"
        assert main(["data", "download", "mnist", "--root", str(dest), "--base-url", url]) == 0
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in served.iterdir())
    assert main(["data", "info", "mnist", "--root", str(dest), "--cache-dir", str(tmp_path / "c")]) == 0
    assert "20" in capsys.readouterr().out
