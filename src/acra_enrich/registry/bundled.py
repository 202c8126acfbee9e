"""The ACRA-format samples shipped with the product (registry/data/), and how each was made.

Each is `acra-enrich sample acra` output for fixed arguments, gzipped: a test regenerates it
and compares bytes, so a sample cannot drift from the generator that documents its format.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import BinaryIO, Literal

from acra_enrich.registry.sample import SampleManifest, write_acra_csv


@dataclass(frozen=True)
class BundledSample:
    file: str
    rows: int
    seed: int
    malformed_rate: float
    shape: Literal["full", "registered", "narrow"]

    @property
    def path(self) -> Path:
        return Path(str(resources.files("acra_enrich.registry.data") / self.file))

    def generate(self, out: BinaryIO) -> SampleManifest:
        return write_acra_csv(out, rows=self.rows, seed=self.seed, malformed_rate=self.malformed_rate,
                              shape=self.shape)

    def rebuild(self) -> None:
        """Rewrite the bundled file (after a deliberate change to the generator)."""
        with open(self.path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
            self.generate(packed)  # type: ignore[arg-type]


# The 94-column collection shape; the demo loads it, and the sandbox web builds its world from
# the same seed, so the demo's companies have websites there.
COLLECTION_SAMPLE = BundledSample("acra_sample.csv.gz", rows=2000, seed=2026, malformed_rate=0.005, shape="full")
# "Entities Registered with ACRA" (`*_desc` columns, Registered / Deregistered): the same
# entities as the first 1,000 of the collection sample, in the file most users download.
REGISTERED_SAMPLE = BundledSample("acra_entities_registered_sample.csv.gz", rows=1000, seed=2026,
                                  malformed_rate=0.005, shape="registered")
BUNDLED_SAMPLES = (COLLECTION_SAMPLE, REGISTERED_SAMPLE)
