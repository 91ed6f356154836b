"""The carbon-credit registry (clause 5.2): serial blocks, issue/transfer/retire/pledge/cancel, the buffer
pool, a verifiable log and what it publishes.

* :mod:`.book`: the units and their invariants, one transaction per operation (:class:`Registry`);
* :mod:`.service`: the same operations with the acting principal, audited, mirrored to the lake;
* :mod:`.log`: the RFC 6962 log of registry transactions with signed checkpoints;
* :mod:`.publish` and :mod:`.verify`: the public files and their check by anyone;
* :mod:`.store`, :mod:`.serials`: where it is kept and how serials are written.
"""

from . import log
from .book import Registry, RegistryRefused

__all__ = ["Registry", "RegistryRefused", "log"]
