"""Benchmarks that print figures. Not part of the pass/fail suite; see bench/README.md."""

import warnings

# Importing nameko imports eventlet, which warns on import; the warning is noise here.
warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
