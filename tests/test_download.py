"""URLs where a user would paste one (issue 24, item 3): --network, --generator and [generator].file accept
http(s) URLs, downloaded once into $GRADCTRL_CACHE, atomically, with an optional sha256 pin. Tested against a
local HTTP server on 127.0.0.1: a good file, a truncated one, a 404, a wrong pin, and a closed port."""
import hashlib
import http.server
import socket
import threading

import pytest

from stylegan2 import download
from stylegan2.errors import InputError


class _Files(http.server.BaseHTTPRequestHandler):
    """GET /NAME: the server's file NAME; /truncated.pkl promises more bytes than it sends, then closes."""

    files = {}
    hits = []

    def do_GET(self):
        name = self.path.lstrip("/")
        self.hits.append(name)
        if name not in self.files:
            self.send_error(404, "Not Found")
            return
        data = self.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data) * (2 if name == "truncated.pkl" else 1)))
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch, tiny_generator_path):
    """(base URL, the tiny generator's bytes); the cache in tmp_path/cache."""
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    data = tiny_generator_path.read_bytes()
    _Files.files = {"tiny.pkl": data, "truncated.pkl": data}
    _Files.hits = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", data
    httpd.shutdown()
    httpd.server_close()


def _cache_entries(tmp_path):
    return sorted(p.name for p in (tmp_path / "cache").iterdir()) if (tmp_path / "cache").exists() else []


def test_a_url_is_downloaded_once_into_the_cache(server, tmp_path):
    base, data = server
    path = download.fetch(f"{base}/tiny.pkl", sha256=hashlib.sha256(data).hexdigest(), progress=False)
    assert path.parent == tmp_path / "cache" and path.name.endswith("-tiny.pkl") and path.read_bytes() == data
    assert download.fetch(f"{base}/tiny.pkl", progress=False) == path and _Files.hits == ["tiny.pkl"]  # cached
    assert _cache_entries(tmp_path) == [path.name]


@pytest.mark.parametrize("name, pin, message", [
    ("truncated.pkl", None, "stopped after|broke off"),
    ("missing.pkl", None, "HTTP 404"),
    ("tiny.pkl", "0" * 64, "not the pinned 0000000000000000"),
])
def test_a_bad_download_is_one_line_and_leaves_nothing(server, tmp_path, name, pin, message):
    base, _ = server
    with pytest.raises(InputError, match=message) as e:
        download.fetch(f"{base}/{name}", sha256=pin, progress=False)
    assert "\n" not in str(e.value) and f"{base}/{name}" in str(e.value)
    assert _cache_entries(tmp_path) == []                     # no file, no temporary


def test_offline_is_one_line_saying_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    with socket.socket() as s:                                 # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InputError, match=r"cannot download .*: offline\? download it where there is a network"):
        download.fetch(f"http://127.0.0.1:{port}/g.pkl", progress=False)


def test_commands_take_urls_for_network_generator_and_the_config_file(server, tmp_path):
    """python -m stylegan2 generate --network URL, and a config whose [generator] file is a URL with its pin."""
    from gradctrl.formats.config import load_config
    from gradctrl.generators import generator_file
    from stylegan2 import cli

    base, data = server
    assert cli.main(["generate", "--network", f"{base}/tiny.pkl", "--seeds", "0-1", "--out_dir", str(tmp_path / "o"),
                     "--no_progress"]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["seed0000.png", "seed0001.png"]
    config = tmp_path / "c.toml"
    config.write_text(f'[generator]\nfile = "{base}/tiny.pkl"\nsha256 = "{hashlib.sha256(data).hexdigest()}"\n')
    assert generator_file(None, load_config(config)).read_bytes() == data and _Files.hits == ["tiny.pkl"]
    config.write_text(f'[generator]\nfile = "{base}/tiny.pkl"\nsha256 = "{"1" * 64}"\n')
    with pytest.raises(InputError, match="the cached file .* not the pinned 1111"):
        generator_file(None, load_config(config))
