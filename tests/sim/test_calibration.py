"""Calibration JSON: defaults as fallback, partial overrides, clear errors."""

import json

import pytest

from sim.calibration import Calibration, CalibrationError, ColdStart, ConnectionScaling, load_calibration


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


def test_capacity_fields_round_trip_through_json(tmp_path):
    """Connection scaling, cold start, commit time and descriptor limits load back as written."""
    cal = Calibration(
        connection_scaling=ConnectionScaling(points=((100, 1.0), (5000, 1.4))),
        cold_start=ColdStart(max_ms=0.6, tau_ms=3.0),
        commit_ms=2.5,
        fd_limit=20_000,
        fd_reserve=40,
        memory_per_keepalive_bytes=9000,
    )
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(cal.to_dict()))
    back = load_calibration(path)
    assert back == cal
    assert back.connection_limit == 19_960
    assert back.connection_scaling.factor(2550) == pytest.approx(1.2)
    assert back.connection_scaling.factor(10_000) == pytest.approx(1.4 + 0.4 * 5000 / 4900)


def test_bad_connection_scaling_is_refused(tmp_path):
    path = tmp_path / "cal.json"
    for bad in ([[5000, 1.4], [100, 1.0]], [[100]], "steep", [[100, 0]]):
        path.write_text(json.dumps({"connection_scaling": bad}))
        with pytest.raises(CalibrationError, match="connection_scaling"):
            load_calibration(path)
