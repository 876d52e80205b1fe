"""torchvision.datasets.utils: the download helpers, and the errors the datasets raise."""
from blaze.utils.download import (ChecksumError, DownloadError, UnsafeArchiveError, calculate_md5,  # noqa: F401
                                  check_integrity, download_and_extract_archive, download_url, extract_archive)


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not where we looked; the message lists the places and how to get them."""


class CorruptDatasetError(ValueError):
    """A dataset file exists but is not in the expected format (bad magic number, truncated, ...)."""


__all__ = ["ChecksumError", "CorruptDatasetError", "DatasetNotFoundError", "DownloadError", "UnsafeArchiveError",
           "calculate_md5", "check_integrity", "download_and_extract_archive", "download_url", "extract_archive"]
