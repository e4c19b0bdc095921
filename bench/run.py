"""`make bench`: every benchmark in one run; each prints its figures."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketstream.settings")

import django  # noqa: E402

django.setup()

from bench import bench_codec  # noqa: E402

if __name__ == "__main__":
    bench_codec.main()
