#!/usr/bin/env python3
"""The "## Fuzzing" section of bench/RESULTS.md and its summary row, shared by the two scripts
that write that file: bench/fuzz.sh puts a new section and row in; bench/run.sh, which rewrites
the rest of the file, carries the last ones over verbatim.

  results_md.py put   RESULTS.md SECTION_FILE ROW_FILE  # replace (or add) section and row
  results_md.py carry OLD_RESULTS.md NEW_RESULTS.md     # copy OLD's section and row into NEW

The section runs from its "## Fuzzing" heading to the next "## " heading, or to run.sh's closing
"Where the time and memory go" paragraph, which stays last. The row is the line of the Summary
table that starts with "| Fuzzing:". A new section takes the old one's place, else goes before
the closing paragraph (else at the end); a new row takes the old one's place, else goes after the
last row of the Summary table. Files are rewritten through a temporary file and a rename.
"""
import os
import sys

HEADING = "## Fuzzing"
ROW_START = "| Fuzzing:"
TRAILER_START = "Where the time and memory go"


def section_bounds(lines):
    """(start, end) of the fuzz section in lines, or None; end excludes trailing blank lines."""
    start = next((i for i, l in enumerate(lines) if l.rstrip("\n") == HEADING), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and not lines[end].startswith("## ") and not lines[end].startswith(
            TRAILER_START):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return start, end


def extract(lines):
    """The section's lines (or []) and the summary row (or None)."""
    bounds = section_bounds(lines)
    section = lines[bounds[0]:bounds[1]] if bounds else []
    row = next((l for l in lines if l.startswith(ROW_START)), None)
    return section, row


def put(lines, section, row):
    """lines with the fuzz section and row replaced by (or given) `section` and `row`."""
    lines = list(lines)
    if row is not None:
        row = row if row.endswith("\n") else row + "\n"
        old = next((i for i, l in enumerate(lines) if l.startswith(ROW_START)), None)
        if old is not None:
            lines[old] = row
        else:
            summary = next((i for i, l in enumerate(lines) if l.rstrip("\n") == "## Summary"), None)
            if summary is not None:
                last = summary
                for i in range(summary + 1, len(lines)):
                    if lines[i].startswith("## "):
                        break
                    if lines[i].startswith("|"):
                        last = i
                lines.insert(last + 1, row)
    if section:
        section = [l if l.endswith("\n") else l + "\n" for l in section]
        while section and not section[-1].strip():
            section.pop()
        bounds = section_bounds(lines)
        if bounds:
            lines[bounds[0]:bounds[1]] = section
        else:
            at = next((i for i, l in enumerate(lines) if l.startswith(TRAILER_START)), len(lines))
            block = section + ["\n"]
            if at > 0 and lines[at - 1].strip():
                block.insert(0, "\n")
            lines[at:at] = block
    return lines


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.readlines()


def write(path, lines):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(tmp, path)


def main(argv):
    if len(argv) == 5 and argv[1] == "put":
        section = read(argv[3])
        rows = [l for l in read(argv[4]) if l.strip()]
        if len(rows) != 1 or not rows[0].startswith(ROW_START):
            sys.exit(f"{argv[4]}: expected one line starting with '{ROW_START}'")
        if not section or section[0].rstrip("\n") != HEADING:
            sys.exit(f"{argv[3]}: expected a section starting with '{HEADING}'")
        write(argv[2], put(read(argv[2]), section, rows[0]))
    elif len(argv) == 4 and argv[1] == "carry":
        if not os.path.exists(argv[2]):
            return
        section, row = extract(read(argv[2]))
        write(argv[3], put(read(argv[3]), section, row))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
