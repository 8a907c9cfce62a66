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
