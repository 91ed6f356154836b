"""The demo province: a deterministic, realistic lake for tests, training and benchmarks."""

from .build import DEFAULT_SEED, BuildReport, build_demo
from .province import SCALES

__all__ = ["DEFAULT_SEED", "BuildReport", "build_demo", "SCALES"]
