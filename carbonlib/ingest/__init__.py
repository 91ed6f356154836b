"""Field data in: readers of the files towers, loggers and meters write, and their ingestion into the lake.

Analysts read a file with :func:`read_ameriflux`; operators ingest files with
:func:`carbonlib.ingest.service.ingest_files` (``carbon ingest files``), which checks who may.
"""

from .files import FileSummary, ingest_file, ingest_files
from .mapping import Mapping, Target, load_mapping
from .readers import FORMATS, FormatError, read_ameriflux
from .sites import flux_sites

__all__ = ["FORMATS", "FileSummary", "FormatError", "Mapping", "Target", "flux_sites", "ingest_file", "ingest_files",
           "load_mapping", "read_ameriflux"]
