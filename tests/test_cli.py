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
    for model in ("EfficientNet-Lite0", "MiniLM", "Silero VAD", "BlazeFace", "PP-OCR"):
        assert f"{model}" in out and "available offline" in out.split(model)[1].splitlines()[0]


@pytest.mark.parametrize(("profile", "online", "gpu", "expected"), [
    ("full", False, False, "[--] Profile  full (set by COURSE_PROFILE): it downloads ImageNet "
                           "weights from keras.applications and the flowers archive, and this "
                           "machine is offline"),
    ("full", True, False, "[--] Profile  full (set by COURSE_PROFILE): made for a GPU"),
    ("full", True, True, "[ok] Profile  full (set by COURSE_PROFILE)"),
    ("cpu", True, False, "[ok] Profile  cpu (set by COURSE_PROFILE)"),
    (None, True, True, "[ok] Profile  full (chosen from the machine: network and a GPU)"),
    (None, False, True, "[ok] Profile  offline (chosen from the machine: no network)"),
])
def test_doctor_says_which_profile_why_and_whether_it_can_run(profile, online, gpu, expected,
                                                             monkeypatch, capsys):
    from course_utils import env

    # empty means unset; setenv (not delenv) so that the value the code under test
    # writes into os.environ is removed again afterwards
    monkeypatch.setenv("COURSE_PROFILE", "")
    monkeypatch.setattr(env, "has_internet", lambda: online)
    monkeypatch.setattr(env, "gpu_names", lambda: ["/physical_device:GPU:0"] if gpu else [])
    cli.main(["doctor"] + (["--profile", profile] if profile else []))
    out = " ".join(capsys.readouterr().out.split())  # the report pads names to one width
    assert expected.replace("Profile  ", "Profile ") in out
    assert ("Profile: set COURSE_PROFILE=" in out) == expected.startswith("[--]")


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


# ------------------------------------------------------------------------- the error policy
def _failing_run(exc):
    def run(args):
        raise exc
    return run


def test_user_error_is_one_line_exit_2(monkeypatch, capsys):
    from course_utils.errors import CourseError

    monkeypatch.setattr("course_utils.commands.backbones.run",
                        _failing_run(CourseError("no such thing: try another")))
    assert cli.main(["backbones"]) == 2
    err = capsys.readouterr().err
    assert err == "course backbones: no such thing: try another\n"


def test_bug_shows_traceback_and_asks_for_a_report(monkeypatch, capsys):
    """A ValueError from inside a command is a bug, not a one-line 'user error'."""
    monkeypatch.setattr("course_utils.commands.backbones.run",
                        _failing_run(ValueError("operands could not be broadcast")))
    assert cli.main(["backbones"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "operands could not be broadcast" in err
    assert "this is a bug in the course" in err and "please report it" in err


def test_debug_lets_every_error_propagate(monkeypatch):
    from course_utils.errors import CourseError

    for exc in (CourseError("user"), OSError("bug")):
        monkeypatch.setattr("course_utils.commands.backbones.run", _failing_run(exc))
        with pytest.raises(type(exc)):
            cli.main(["--debug", "backbones"])


@pytest.mark.parametrize(("missing", "status"), [("nbgrader", 2), ("course_utils.nope", 1)])
def test_missing_package_is_a_user_error_but_a_missing_course_module_is_a_bug(
        monkeypatch, capsys, missing, status):
    monkeypatch.setattr("course_utils.commands.backbones.run",
                        _failing_run(ModuleNotFoundError(f"No module named {missing!r}",
                                                         name=missing)))
    assert cli.main(["backbones"]) == status
    err = capsys.readouterr().err
    if status == 2:
        assert err.count("\n") == 1 and "missing package nbgrader" in err
    else:
        assert "Traceback" in err and "bug" in err


def test_broken_pipe_and_interrupt(monkeypatch, capsys):
    monkeypatch.setattr("course_utils.commands.backbones.run", _failing_run(BrokenPipeError()))
    assert cli.main(["backbones"]) == 0
    assert capsys.readouterr().err == ""
    monkeypatch.setattr("course_utils.commands.backbones.run", _failing_run(KeyboardInterrupt()))
    assert cli.main(["backbones"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_closed_pipe_exits_quietly_in_a_real_process():
    """`course backbones | head -0`: the reader is gone before the first line is written."""
    import subprocess
    import sys
    from pathlib import Path

    course = Path(sys.executable).with_name("course")
    proc = subprocess.Popen([str(course), "backbones"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # no reader left: the first write gets EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and err == ""


@pytest.mark.parametrize("argv", [
    ["autograde", "/nonexistent/submissions"],
    ["autograde", ".", "--workers", "0"],
    ["autograde", ".", "--root", "/nonexistent"],
    ["check", "/nonexistent/ex01.ipynb"],
    ["feedback", "--root", "/nonexistent"],
    ["feedback", "--workers", "0"],
    ["predict", "x.jpg", "--top", "0"],
    ["predict", "x.jpg", "--model", "alexnet"],
    ["weights", "fetch", "alexnet"],
    ["weights", "fetch", "vgg16", "--all"],
])
def test_user_mistakes_are_one_line_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"course {argv[0]}: "), err


def test_check_refuses_a_file_that_is_not_a_notebook(tmp_path, capsys):
    notebook = tmp_path / "ex01.ipynb"
    notebook.write_text("{not json")
    assert cli.main(["check", str(notebook)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not valid JSON" in err


def test_every_command_says_whether_it_needs_tensorflow():
    import importlib

    for name in cli.COMMANDS:
        module = importlib.import_module(f"course_utils.commands.{name}")
        assert isinstance(module.NEEDS_TENSORFLOW, bool), name
