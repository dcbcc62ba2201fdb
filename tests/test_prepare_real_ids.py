"""prepare takes real-world files as they come: any id (re-encoded, mapped back), a BOM, CRLF,
duplicate rows, missing ratings and timestamps, timestamp ties in file order."""
from __future__ import annotations

import json
import os

from recbole_csrec.data.ids import is_safe_id, load_id_map, original_id
from recbole_csrec.data.protocol import Columns, prepare_dataset, read_manifest
from recbole_csrec.prepare_cli import main as prepare_main

LONG = "x" * 300
ANN, NA, BOB = "Ann Smith", "NA", 'Bob "B", Jr.'
ONE, HI, ZOE, TAB = "Song, One", 'Say "Hi"', "Zoë", "tab\there"
ROWS = [  # user, item, rating, timestamp ('' = missing), in file order
    (ANN, ONE, "5", "10"), (ANN, HI, "4", "10"),  # a tie: file order
    (ANN, ZOE, "", "12"),  # no rating
    (ANN, LONG, "3", "11"), (ANN, ONE, "5", "10"),  # a duplicate of the first row
    (ANN, TAB, "2", ""),  # no timestamp: right after the previous row of Ann in the file
    (NA, "plain", "1", "1"), (NA, ONE, "2", "2"), (NA, ZOE, "3", "3"),
    (BOB, "plain", "5", "5"), (BOB, HI, "5", "4"), (BOB, LONG, "1", "6"),
]
EXPECTED = {ANN: [ONE, HI, TAB, LONG, ZOE], NA: ["plain", ONE, ZOE], BOB: [HI, "plain", LONG]}
COLUMNS = Columns(user="user", item="item", rating="rating", time="ts")


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def write_messy_csv(path: str) -> None:
    lines = ["user,item,rating,ts"] + [",".join([_quote(u), _quote(i), r, t]) for u, i, r, t in ROWS]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("\ufeff" + "\r\n".join(lines) + "\r\n")  # BOM and CRLF


def windows(folder: str, name: str) -> dict[str, tuple[list[str], str]]:
    """window user -> (items of the whole window, the test target's rating), from the test file."""
    out = {}
    with open(os.path.join(folder, f"{name}.test.inter"), encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            user, seq, target, *rating = line.rstrip("\n").split("\t")
            out[user] = (seq.split(" ") + [target], rating[0] if rating else None)
    return out


def test_messy_csv_round_trip(tmp_path):
    raw = str(tmp_path / "raw.csv")
    write_messy_csv(raw)
    stats = prepare_dataset(raw, "csv", "messy", window=10, min_count=1, columns=COLUMNS,
                            output_dir=str(tmp_path / "dataset"))
    folder = str(tmp_path / "dataset" / "messy")
    mapping = load_id_map(folder, "messy")
    assert set(mapping) == {"user", "item"}
    found = windows(folder, "messy")
    assert all(is_safe_id(u) and all(is_safe_id(i) for i in items) for u, (items, _) in found.items())
    back = {original_id(mapping, "user", user): [original_id(mapping, "item", i) for i in items]
            for user, (items, _) in found.items()}
    assert back == EXPECTED
    ratings = {original_id(mapping, "user", user): rating for user, (_, rating) in found.items()}
    assert float(ratings[ANN]) == 0.0  # Zoë had no rating: assumed 0
    notes = " | ".join(stats.notes)
    for said in ("1 rows without a rating: assumed 0", "1 rows without a timestamp",
                 "1 duplicate rows", "user ids and item ids re-encoded"):
        assert said in notes
    manifest = read_manifest(folder)
    assert manifest is not None and "messy.id_map.json" in manifest["files"]  # part of the build
    with open(os.path.join(folder, "messy.id_map.json"), encoding="utf-8") as handle:
        assert json.load(handle)["format"] == "recbole_csrec.id_map/1"


def test_safe_ids_are_kept_and_no_map_is_written(tmp_path):
    raw = tmp_path / "raw.csv"
    raw.write_text("user,item\r\n" + "".join(f"u{k % 3},item.{k % 5}\r\n" for k in range(30)))
    prepare_dataset(str(raw), "csv", "plain", window=5, min_count=1, columns=Columns(user="user", item="item"),
                    output_dir=str(tmp_path / "dataset"))
    folder = str(tmp_path / "dataset" / "plain")
    assert load_id_map(folder, "plain") == {} and not os.path.exists(os.path.join(folder, "plain.id_map.json"))
    assert all(u.startswith("u") and all(i.startswith("item.") for i in items)
               for u, (items, _) in windows(folder, "plain").items())


def test_atomic_file_with_spaces_bom_and_crlf_loads_in_recbole(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["pytest"])
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for user in range(6):
        for step in range(8):
            lines.append(f"user {user}\tThe Item {(user + step) % 7}, vol. é\t{1 + step % 5}\t{step}")
    (tmp_path / "raw.inter").write_text("\ufeff" + "\r\n".join(lines) + "\r\n", encoding="utf-8")
    prepare_dataset("raw.inter", "atomic", "spaced", window=8, min_count=1, output_dir="dataset")
    from recbole.data import create_dataset

    from recbole_csrec.config import CSRecConfig

    config = CSRecConfig("GRU4Rec", "spaced", config_file_list=["dataset/spaced/spaced.yaml"],
                         config_dict={"data_path": "dataset", "state": "ERROR", "preset": "paper"})
    dataset = create_dataset(config)
    assert dataset.item_num == 7 + 1  # seven items and RecBole's padding id
    mapping = load_id_map("dataset/spaced", "spaced")
    assert sorted(mapping["item"].values()) == sorted(f"The Item {k}, vol. é" for k in range(7))


def test_cli_prints_the_assumptions(tmp_path, capsys):
    raw = str(tmp_path / "raw.csv")
    write_messy_csv(raw)
    code = prepare_main(["--input", raw, "--format", "csv", "--name", "messy", "--window", "10",
                         "--min-count", "1", "--user-col", "user", "--item-col", "item", "--rating-col",
                         "rating", "--time-col", "ts", "--output-dir", str(tmp_path / "ds")])
    out = capsys.readouterr().out
    assert code == 0 and "assumed: 1 rows without a rating" in out and "messy.id_map.json" in out
