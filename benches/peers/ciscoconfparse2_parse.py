"""The ciscoconfparse2 peer: parse one IOS config once.

Run in the ciscoconfparse2 virtualenv: python ciscoconfparse2_parse.py CONFIG
Prints one JSON object: how many line objects and top-level objects the parse holds, and the
seconds spent in process, imports excluded.
"""

import json
import sys
import time

start = time.perf_counter()
from ciscoconfparse2 import CiscoConfParse  # noqa: E402

imported = time.perf_counter()


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        # A list of lines, not the path: given a path, the parse adds an empty last line.
        lines = f.read().splitlines()
    parse = CiscoConfParse(lines, syntax="ios")
    objects = len(parse.objs)
    top_level = sum(1 for obj in parse.objs if obj.parent is obj)
    done = time.perf_counter()
    json.dump(
        {"objects": objects, "top_level": top_level, "import_s": imported - start, "work_s": done - imported},
        sys.stdout,
    )


main()
