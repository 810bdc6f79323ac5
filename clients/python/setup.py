"""Generates the stubs and typed wrappers from the gateway's protos before setuptools packs them (pyproject.toml)."""

import sys
from pathlib import Path

from setuptools import setup

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate

generate.generate(generate.default_protos())
setup()
