"""The course command line: doctor, backbones and argument errors."""

from __future__ import annotations

import json

import pytest

from course_utils import cli, doctor


def test_backbones_table_lists_every_entry(capsys):
    assert cli.main(["backbones"]) == 0
    out = capsys.readouterr().out
    assert "mobilenet_v2" in out and "efficientnet_lite0" in out and "71.3%" in out


def test_backbones_json_is_the_registry(capsys):
    assert cli.main(["backbones", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {row["name"]: row for row in rows}
    assert by_name["resnet50"]["preprocessing"] == "caffe"
    assert by_name["efficientnet_lite0"]["top1"] == pytest.approx(0.751)


def test_doctor_reports_offline_machine_and_exits_zero(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "Internet" in out and "offline" in out
    assert "To fix:" in out and "Profile" in out


def test_doctor_rejects_unknown_profile_in_one_line(capsys):
    assert cli.main(["doctor", "--profile", "gpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown profile 'gpu'" in err


def test_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["nope"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_report_gives_a_fix_for_every_failed_check():
    results = [doctor.Check("tensorflow", False, "missing", "pip install tensorflow", True),
               doctor.Check("GPU", False, "none", "use Colab")]
    text = doctor.report(results)
    assert "[!!] tensorflow" in text and "tensorflow: pip install tensorflow" in text
    assert not doctor.can_run(results)
    assert doctor.can_run(results[1:])
