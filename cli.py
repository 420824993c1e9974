#!/usr/bin/env python3
"""DALIA site kit command line: `python cli.py --help` (installed as `dalia` too)."""

from dalia_site.commands import cli

if __name__ == "__main__":
    cli()
