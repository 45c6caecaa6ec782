"""``python -m runink.barn --config FILE [--name NAME]``: run one Barn member."""

from __future__ import annotations

from runink.cli.barn import serve_main

if __name__ == "__main__":
    serve_main()
