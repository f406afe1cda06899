"""The side-by-side benchmark: pyresque against real Ruby Resque on one Redis.

Run it with ``bench/run`` (or ``.venv/bin/python -m bench``); see bench/README.md.
"""
