"""download_url / extract_archive against the local fixture server: checksums, mirrors, resume, safe unpacking."""
import gzip
import hashlib
import io
import os
import tarfile
import zipfile

import pytest

from blaze.vision.datasets.utils import (ChecksumError, DownloadError, UnsafeArchiveError, calculate_md5,
                                         check_integrity, download_and_extract_archive, download_url,
                                         extract_archive)

PAYLOAD = bytes(range(256)) * 1000  # 256,000 bytes: several 64 KiB reads, so a cut lands mid-transfer
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_download_checks_the_checksum_and_skips_a_valid_file(http_server, tmp_path):
    http_server.files["/a/data.bin"] = PAYLOAD
    got = download_url(http_server.url + "/a/data.bin", tmp_path / "root", md5=MD5)
    assert got == tmp_path / "root" / "data.bin" and got.read_bytes() == PAYLOAD
    assert _tree(tmp_path / "root") == ["data.bin"]                       # no .part left behind
    assert calculate_md5(got) == MD5 and check_integrity(got, sha256=SHA256) and not check_integrity(got, md5="0" * 32)
    n = len(http_server.log)
    assert download_url(http_server.url + "/a/data.bin", tmp_path / "root", md5=MD5) == got
    assert len(http_server.log) == n                                     # present and valid: no request
    got2 = download_url(http_server.url + "/a/data.bin", tmp_path / "root", "other.bin", sha256=SHA256)
    assert got2.read_bytes() == PAYLOAD


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_only(http_server, tmp_path, monkeypatch, capsys):
    http_server.files["/data.bin"] = PAYLOAD
    download_url(http_server.url + "/data.bin", tmp_path / "quiet", md5=MD5)
    assert capsys.readouterr().err == ""                                   # not a tty: tqdm stays silent
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    download_url(http_server.url + "/data.bin", tmp_path / "tty", md5=MD5)
    assert "data.bin:" in term.getvalue() and "/250k " in term.getvalue()      # the bar, sized from Content-Length


def test_mirror_fallback_when_the_first_mirror_404s(http_server, tmp_path):
    http_server.files["/good/data.bin"] = PAYLOAD
    urls = [http_server.url + "/gone/data.bin", http_server.url + "/good/data.bin"]
    assert download_url(urls, tmp_path, md5=MD5).read_bytes() == PAYLOAD
    assert [(p, s) for p, _, s in http_server.log] == [("/gone/data.bin", 404), ("/good/data.bin", 200)]


def test_corrupt_download_names_file_and_url_and_keeps_nothing(http_server, tmp_path):
    http_server.files["/data.bin"] = PAYLOAD[:-1] + b"X"
    url = http_server.url + "/data.bin"
    with pytest.raises(ChecksumError) as info:
        download_url(url, tmp_path / "root", md5=MD5)
    msg = str(info.value)
    assert "data.bin" in msg and url in msg and f"expected {MD5}" in msg
    assert _tree(tmp_path / "root") == []


def test_offline_lists_every_url_tried(dead_url, tmp_path):
    urls = [dead_url + "x/data.bin", dead_url + "y/data.bin"]
    with pytest.raises(DownloadError) as info:
        download_url(urls, tmp_path, md5=MD5, timeout=5)
    assert not isinstance(info.value, ChecksumError)
    assert all(u in str(info.value) for u in urls) and "tried" in str(info.value)
    assert _tree(tmp_path) == []


def test_interrupted_transfer_is_resumed_with_range(http_server, tmp_path):
    http_server.files["/data.bin"] = PAYLOAD
    http_server.cut_once["/data.bin"] = 100_000
    assert download_url(http_server.url + "/data.bin", tmp_path, md5=MD5).read_bytes() == PAYLOAD
    assert http_server.log == [("/data.bin", None, 200), ("/data.bin", "bytes=100000-", 206)]


def test_a_part_file_left_by_an_earlier_run_is_continued(http_server, tmp_path):
    http_server.files["/data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:70_000])
    assert download_url(http_server.url + "/data.bin", tmp_path, md5=MD5).read_bytes() == PAYLOAD
    assert http_server.log == [("/data.bin", "bytes=70000-", 206)]
    assert _tree(tmp_path) == ["data.bin"]


def test_a_part_of_another_file_is_fetched_again_from_byte_0(http_server, tmp_path):
    http_server.files["/data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(b"\xff" * 1000)             # same length prefix, other bytes
    assert download_url(http_server.url + "/data.bin", tmp_path, md5=MD5).read_bytes() == PAYLOAD
    assert http_server.log == [("/data.bin", "bytes=1000-", 206), ("/data.bin", None, 200)]


def test_without_a_checksum_a_leftover_part_is_not_trusted(http_server, tmp_path):
    http_server.files["/data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(b"\xff" * 1000)
    assert download_url(http_server.url + "/data.bin", tmp_path).read_bytes() == PAYLOAD
    assert http_server.log == [("/data.bin", None, 200)]


def test_an_unfinished_download_is_kept_for_next_time(http_server, dead_url, tmp_path):
    http_server.files["/data.bin"] = PAYLOAD
    http_server.redirects["/moved.bin"] = dead_url + "data.bin"         # this mirror sends us to a dead server
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:50_000])
    with pytest.raises(DownloadError, match=r"50000 bytes received are kept in .*data.bin.part"):
        download_url(http_server.url + "/moved.bin", tmp_path, "data.bin", md5=MD5, timeout=5)
    assert download_url(http_server.url + "/data.bin", tmp_path, md5=MD5).read_bytes() == PAYLOAD
    assert http_server.log[-1] == ("/data.bin", "bytes=50000-", 206)


def test_redirects_are_followed_only_to_http(http_server, tmp_path):
    http_server.files["/real/data.bin"] = PAYLOAD
    http_server.redirects["/data.bin"] = http_server.url + "/real/data.bin"
    http_server.redirects["/ftp.bin"] = "ftp://127.0.0.1/data.bin"
    assert download_url(http_server.url + "/data.bin", tmp_path, md5=MD5).read_bytes() == PAYLOAD
    with pytest.raises(DownloadError, match="only http and https"):
        download_url(http_server.url + "/ftp.bin", tmp_path / "other", md5=MD5)


def test_a_server_that_ignores_range_gets_a_full_download(http_server, tmp_path):
    http_server.files["/data.bin"] = PAYLOAD
    http_server.ignore_range = True
    (tmp_path / "data.bin.part").write_bytes(b"stale bytes from another file")
    assert download_url(http_server.url + "/data.bin", tmp_path, md5=MD5).read_bytes() == PAYLOAD
    assert http_server.log == [("/data.bin", "bytes=29-", 200)]


def test_a_part_longer_than_the_file_starts_over(http_server, tmp_path):
    http_server.files["/data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(bytes(len(PAYLOAD) + 5))
    assert download_url(http_server.url + "/data.bin", tmp_path, md5=MD5).read_bytes() == PAYLOAD
    assert [s for _, _, s in http_server.log] == [416, 200]


@pytest.mark.parametrize("url, filename, message", [
    ("file:///etc/passwd", None, "only http and https"),
    ("ftp://example.org/x", None, "only http and https"),
    ("http://127.0.0.1:1/x", "../escape", "plain file name"),
    ("http://127.0.0.1:1/x", "a/b", "plain file name"),
])
def test_bad_urls_and_names_are_refused_before_any_request(tmp_path, url, filename, message):
    with pytest.raises(ValueError, match=message):
        download_url(url, tmp_path / "root", filename)
    assert not (tmp_path / "root").exists()


# ---- extraction -------------------------------------------------------------------------

def _tar(path, members, mode="w:gz"):
    """members: (name, bytes) files, or (name, ("sym"|"hard", target)) links."""
    with tarfile.open(path, mode) as tf:
        for name, body in members:
            info = tarfile.TarInfo(name)
            if isinstance(body, tuple):
                info.type = tarfile.SYMTYPE if body[0] == "sym" else tarfile.LNKTYPE
                info.linkname = body[1]
                tf.addfile(info)
            else:
                info.size = len(body)
                tf.addfile(info, io.BytesIO(body))
    return path


def test_extract_tar_zip_and_gz(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    out = extract_archive(_tar(src / "a.tar.gz", [("pkg/x.txt", b"x"), ("pkg/sub/y.txt", b"yy"),
                                                  ("pkg/link", ("sym", "x.txt"))]), tmp_path / "out")
    assert (out / "pkg" / "sub" / "y.txt").read_bytes() == b"yy" and (out / "pkg" / "link").read_bytes() == b"x"
    with zipfile.ZipFile(src / "b.zip", "w") as zf:
        zf.writestr("z/one.txt", b"1")
    extract_archive(src / "b.zip", out)
    with gzip.open(src / "c.bin.gz", "wb") as f:
        f.write(b"plain")
    extract_archive(src / "c.bin.gz", out)
    assert _tree(out) == ["c.bin", "pkg", "pkg/link", "pkg/sub", "pkg/sub/y.txt", "pkg/x.txt", "z", "z/one.txt"]
    _tar(src / "a2.tar", [("pkg/new.txt", b"n")], mode="w")               # an entry of the same name is replaced
    extract_archive(src / "a2.tar", out, remove_finished=True)
    assert _tree(out / "pkg") == ["new.txt"] and not (src / "a2.tar").exists()
    with pytest.raises(ValueError, match="unknown archive type"):
        extract_archive(src / "c.bin.gz".replace(".gz", ""), out)


@pytest.mark.parametrize("members, message", [
    ([("ok.txt", b"fine"), ("../evil.txt", b"pwned")], "climbs out of the destination"),
    ([("ok.txt", b"fine"), ("a/../../evil.txt", b"pwned")], "climbs out"),
    ([("ok.txt", b"fine"), ("/tmp/blaze-abs-evil.txt", b"pwned")], "absolute path"),
    ([("link", ("sym", "../../evil.txt"))], "points outside"),
    ([("link", ("sym", "/etc/passwd"))], "points outside"),
    ([("link", ("hard", "../evil.txt"))], "points outside"),
    ([("d", ("sym", ".")), ("d/x", ("sym", "../evil.txt"))], "goes through the link"),
    ([("link", ("sym", "inner.txt")), ("link", b"written through the link")], "goes through the link"),
])
def test_unsafe_tar_members_are_refused_and_nothing_is_written(tmp_path, members, message):
    archive = _tar(tmp_path / "bad.tar.gz", members)
    assert any(m.name == members[-1][0] for m in tarfile.open(archive).getmembers())  # written as given
    before = _tree(tmp_path)
    dest = tmp_path / "a" / "b" / "dest"
    with pytest.raises(UnsafeArchiveError, match=message):
        extract_archive(archive, dest)
    assert _tree(tmp_path) == sorted(before + ["a", "a/b", "a/b/dest"])    # not even ok.txt, no temp folder
    assert not os.path.exists("/tmp/blaze-abs-evil.txt")


def test_unsafe_zip_members_are_refused(tmp_path):
    for name in ("../evil.txt", "/abs.txt"):
        with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
            zf.writestr("ok.txt", b"fine")
            zf.writestr(zipfile.ZipInfo(name), b"pwned")
        with pytest.raises(UnsafeArchiveError):
            extract_archive(tmp_path / "bad.zip", tmp_path / "dest")
        assert _tree(tmp_path / "dest") == [] and not (tmp_path / "evil.txt").exists()


def test_a_corrupt_archive_is_a_clear_error(tmp_path):
    (tmp_path / "broken.tar.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(ValueError, match="broken.tar.gz: cannot unpack"):
        extract_archive(tmp_path / "broken.tar.gz", tmp_path / "dest")
    assert _tree(tmp_path / "dest") == []


def test_download_and_extract(http_server, tmp_path):
    blob = _tar(tmp_path / "x.tar.gz", [("folder/f.txt", b"hello")]).read_bytes()
    http_server.files["/x.tar.gz"] = blob
    out = download_and_extract_archive(http_server.url + "/x.tar.gz", tmp_path / "dl",
                                       md5=hashlib.md5(blob).hexdigest())
    assert (out / "folder" / "f.txt").read_bytes() == b"hello"
