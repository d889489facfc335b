"""Downloads against a local HTTP server (127.0.0.1, ephemeral port): checksum, mismatch, cut-and-resume."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from classicnets.data import DownloadError, download
from classicnets.data.download import REMOTE, RemoteFile, download_file
from classicnets.errors import InvalidInputError

PAYLOAD = bytes(range(256)) * 4000  # 1 MB
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class _Server:
    """Serves PAYLOAD at /good and /file; with ``cut`` set, the first full GET stops half-way."""

    def __init__(self) -> None:
        self.cut_first = False
        self.requests: list[str | None] = []  # the Range header of each request
        self.served_cut = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the test output clean
                pass

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                outer.requests.append(rng)
                if self.path.endswith("missing.bin"):
                    self.send_error(404, "Not Found")
                    return
                start = int(rng.split("=")[1].rstrip("-")) if rng else 0
                body = PAYLOAD[start:]
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut_first and not outer.served_cut:
                    outer.served_cut = True
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return  # the connection closes with half the announced body sent
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    with _Server() as s:
        yield s


def test_good_file(server: _Server, tmp_path: Path) -> None:
    path = download_file(RemoteFile("f.bin", (server.url + "file",), MD5), tmp_path)
    assert path == tmp_path / "f.bin" and path.read_bytes() == PAYLOAD
    assert not (tmp_path / "f.bin.part").exists()
    # already present with the right checksum: not fetched again
    download_file(RemoteFile("f.bin", (server.url + "file",), MD5), tmp_path)
    assert len(server.requests) == 1


def test_wrong_checksum_removes_the_partial_file(server: _Server, tmp_path: Path) -> None:
    remote = RemoteFile("f.bin", (server.url + "file",), "0" * 32)
    with pytest.raises(DownloadError, match=f"checksum mismatch for f.bin: expected md5 0{{32}}, got {MD5}; "
                                            "the partial file was removed"):
        download_file(remote, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cut_transfer_is_resumed_with_a_range_request(server: _Server, tmp_path: Path) -> None:
    server.cut_first = True
    path = download_file(RemoteFile("f.bin", (server.url + "file",), MD5), tmp_path, retries=2)
    assert path.read_bytes() == PAYLOAD
    assert server.requests == [None, f"bytes={len(PAYLOAD) // 2}-"]


def test_partial_file_from_an_earlier_run_is_resumed(server: _Server, tmp_path: Path) -> None:
    server.cut_first = True
    remote = RemoteFile("f.bin", (server.url + "file",), MD5)
    with pytest.raises(DownloadError, match="the partial file .*f.bin.part is kept"):
        download_file(remote, tmp_path, retries=0)
    assert (tmp_path / "f.bin.part").stat().st_size == len(PAYLOAD) // 2
    assert not (tmp_path / "f.bin").exists()
    download_file(remote, tmp_path, retries=0)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert server.requests[-1] == f"bytes={len(PAYLOAD) // 2}-"


def test_http_error_tries_the_next_mirror(server: _Server, tmp_path: Path) -> None:
    remote = RemoteFile("f.bin", (server.url + "missing.bin", server.url + "file"), MD5)
    assert download_file(remote, tmp_path).read_bytes() == PAYLOAD
    with pytest.raises(DownloadError, match="could not download g.bin: .*missing.bin: HTTP 404"):
        download_file(RemoteFile("g.bin", (server.url + "missing.bin",), MD5), tmp_path)


def test_download_dataset_from_a_mirror(server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REMOTE, "mnist", (RemoteFile("a.gz", ("https://invalid.example/a.gz",), MD5),
                                          RemoteFile("b.gz", ("https://invalid.example/b.gz",), MD5)))
    paths = download("mnist", tmp_path, base_url=server.url)
    assert [p.name for p in paths] == ["a.gz", "b.gz"] and all(p.read_bytes() == PAYLOAD for p in paths)
    with pytest.raises(InvalidInputError, match="digits has no official download.*scikit-learn"):
        download("digits", tmp_path)


def test_every_downloadable_dataset_has_official_urls() -> None:
    for name, files in REMOTE.items():
        for f in files:
            assert all(u.startswith(("https://", "http://")) and u.endswith("/" + f.filename) for u in f.urls), name
            assert f.md5 is None or len(f.md5) == 32, (name, f.filename)
    assert REMOTE["cifar10"][0].md5 == "c58f30108f718f92721af3b95e74349a"


def test_a_base_url_that_is_not_a_url_is_one_clear_error(tmp_path) -> None:
    from classicnets.data import download

    with pytest.raises(InvalidInputError, match="is not a URL; give http://, https:// or file://"):
        download("mnist", tmp_path, base_url="notaurl")
