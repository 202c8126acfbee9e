"""The bundled sample and `acra-enrich demo`."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys

from acra_enrich.demo import SAMPLE_MALFORMED_RATE, SAMPLE_ROWS, SAMPLE_SEED, bundled_sample
from acra_enrich.registry.sample import write_acra_csv


def test_bundled_sample_is_what_the_generator_makes_for_its_seed() -> None:
    expected = io.BytesIO()
    write_acra_csv(expected, rows=SAMPLE_ROWS, seed=SAMPLE_SEED, malformed_rate=SAMPLE_MALFORMED_RATE)
    assert gzip.decompress(bundled_sample().read_bytes()) == expected.getvalue()


def test_demo_runs_end_to_end_and_is_repeatable(env: dict[str, str]) -> None:
    first = subprocess.run([sys.executable, "-m", "acra_enrich", "demo"], env=env, capture_output=True, text=True,
                           timeout=300, check=False)
    assert first.returncode == 0, first.stderr
    assert "inserted 1,995" in first.stdout and "rejected 5" in first.stdout
    second = subprocess.run([sys.executable, "-m", "acra_enrich", "demo"], env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert second.returncode == 0, second.stderr
    assert "inserted 0  updated 0  unchanged 1,995" in second.stdout
