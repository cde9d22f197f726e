#!/usr/bin/env python3
"""The slowest test classes of a run, from the TRX files `dotnet test --logger trx` wrote: how long each class held the
run (its first test's start to its last test's end, the wall time it adds where it is the last to finish) and the sum
of its tests' own times. Used by .ci/run; by hand: python3 eng/ci-report.py RESULTS_DIR [COUNT]."""
import glob
import sys
import xml.etree.ElementTree as ET
from datetime import datetime

NS = "{http://microsoft.com/schemas/VisualStudio/TeamTest/2010}"


def seconds(duration):
    hours, minutes, secs = duration.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(secs)


def moment(text):
    # TRX writes 7 fractional digits and an offset; Python's parser takes at most 6.
    head, _, rest = text.partition(".")
    fraction = rest[:7]
    return datetime.fromisoformat(f"{head}.{fraction[:6] or '0'}{rest[len(fraction):]}")


def main():
    results, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 15
    classes = {}
    for path in glob.glob(f"{results}/*.trx"):
        root = ET.parse(path).getroot()
        owner = {t.get("id"): t.find(f"{NS}TestMethod").get("className") for t in root.iter(f"{NS}UnitTest")}
        for result in root.iter(f"{NS}UnitTestResult"):
            name = owner.get(result.get("testId"), "?")
            start, end = moment(result.get("startTime")), moment(result.get("endTime"))
            entry = classes.setdefault(name, [start, end, 0.0, 0])
            entry[0], entry[1] = min(entry[0], start), max(entry[1], end)
            entry[2] += seconds(result.get("duration", "0:0:0"))
            entry[3] += 1
    ranked = sorted(classes.items(), key=lambda item: (item[1][1] - item[1][0]).total_seconds(), reverse=True)
    print(f"ci: the {min(count, len(ranked))} slowest test classes (first test start to last test end; sum of test times):")
    for name, (start, end, total, tests) in ranked[:count]:
        print(f"  {(end - start).total_seconds():7.1f} s  {total:7.1f} s  {tests:3d} tests  {name}")


if __name__ == "__main__":
    main()
