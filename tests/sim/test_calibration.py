"""Calibration JSON: defaults as fallback, partial overrides, clear errors."""

import json

import pytest

from sim.calibration import Calibration, CalibrationError, load_calibration


def test_none_gives_defaults():
    assert load_calibration(None) == Calibration()


def test_partial_file_keeps_other_defaults(tmp_path):
    p = tmp_path / "cal.json"
    p.write_text(json.dumps({"service_ms": {"since": 2.5}, "bytes": {"full_messages_body": 4000}}))
    cal = load_calibration(p)
    assert cal.service_ms.since == 2.5
    assert cal.service_ms.orders_304 == Calibration().service_ms.orders_304
    assert cal.bytes.full_messages_body == 4000
    assert cal.service_s("since") == 0.0025


def test_unknown_key_is_named(tmp_path):
    p = tmp_path / "cal.json"
    p.write_text(json.dumps({"service_ms": {"sinse": 1}}))
    with pytest.raises(CalibrationError, match="sinse"):
        load_calibration(p)


def test_negative_value_is_rejected(tmp_path):
    p = tmp_path / "cal.json"
    p.write_text(json.dumps({"service_ms": {"since": -1}}))
    with pytest.raises(CalibrationError, match=">= 0"):
        load_calibration(p)


def test_missing_file_and_bad_json(tmp_path):
    with pytest.raises(CalibrationError, match="not found"):
        load_calibration(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(CalibrationError, match="not valid JSON"):
        load_calibration(bad)


def test_meta_is_kept_and_not_compared(tmp_path):
    """`pollbench calibrate` writes provenance under meta; the model ignores it."""
    p = tmp_path / "cal.json"
    p.write_text(json.dumps({"service_ms": {"post": 0.7}, "meta": {"noop_us": 61.5, "notes": ["x"]}}))
    cal = load_calibration(p)
    assert cal.meta == {"noop_us": 61.5, "notes": ["x"]}
    assert cal.service_ms.post == 0.7
    assert cal == Calibration(service_ms=cal.service_ms)


def test_meta_must_be_an_object(tmp_path):
    p = tmp_path / "cal.json"
    p.write_text(json.dumps({"meta": [1, 2]}))
    with pytest.raises(CalibrationError, match="meta must be a JSON object"):
        load_calibration(p)


def test_unknown_top_level_key_is_still_an_error(tmp_path):
    p = tmp_path / "cal.json"
    p.write_text(json.dumps({"metadata": {}}))
    with pytest.raises(CalibrationError, match="metadata"):
        load_calibration(p)


def test_files_without_the_newer_kinds_keep_their_defaults(tmp_path):
    """Calibration files written before post and since_empty existed still load."""
    p = tmp_path / "cal.json"
    p.write_text(json.dumps({"service_ms": {"since": 2.5}}))
    cal = load_calibration(p)
    assert cal.service_ms.post == Calibration().service_ms.post
    assert cal.service_s("since_empty") == Calibration().service_ms.since_empty / 1000


def test_to_dict_round_trips_through_a_file(tmp_path):
    original = Calibration(meta={"date": "2026-01-01"})
    p = tmp_path / "cal.json"
    p.write_text(json.dumps(original.to_dict()))
    assert load_calibration(p).to_dict() == original.to_dict()
