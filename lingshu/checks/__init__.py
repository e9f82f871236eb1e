"""Data checks: Great Expectations suites (JSON files in data_checks/) run against the curated data.

`derive.py` turns the curate outputs into the tables the suites read (with derived columns such as
"image refs resolve" or "overlaps a benchmark"), `suites.py` builds and runs the suites, `render.py`
writes each result as JSON and HTML. The `validate` stage and `lingshu check-data` both call `run_checks`.
"""
