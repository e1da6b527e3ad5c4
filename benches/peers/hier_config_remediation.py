"""The hier_config peer: the remediation that turns a running IOS config into a generated one.

Run in the hier-config virtualenv: python hier_config_remediation.py RUNNING GENERATED
Prints one JSON object: the remediation's sections (each a top-level line and its child lines,
as hier_config writes them) and the seconds spent in process, imports excluded.
"""

import json
import sys
import time

start = time.perf_counter()
from hier_config import Platform, WorkflowRemediation, get_hconfig  # noqa: E402

imported = time.perf_counter()


def main() -> None:
    running_path, generated_path = sys.argv[1], sys.argv[2]
    with open(running_path, encoding="utf-8") as f:
        running = get_hconfig(Platform.CISCO_IOS, f.read())
    with open(generated_path, encoding="utf-8") as f:
        generated = get_hconfig(Platform.CISCO_IOS, f.read())
    remediation = WorkflowRemediation(running, generated).remediation_config
    sections = [
        {
            "line": child.cisco_style_text().strip(),
            "children": [c.cisco_style_text().strip() for c in child.all_children_sorted()],
        }
        for child in remediation.children
    ]
    done = time.perf_counter()
    json.dump(
        {"sections": sections, "import_s": imported - start, "work_s": done - imported},
        sys.stdout,
    )


main()
